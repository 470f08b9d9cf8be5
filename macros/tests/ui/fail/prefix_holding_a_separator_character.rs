use token_runtime_id::runtime_id;

// `x:` holds no `::`, yet `x:::a1b2c3d4` splits on `::` as `x` and `:a1b2c3d4`.
#[runtime_id(prefix = "x:", sep = "::")]
fn process_request() {}

fn main() {
    process_request();
}

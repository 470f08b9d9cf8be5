use token_runtime_id::runtime_id;

#[runtime_id(sep = "a")]
fn process_request() {}

fn main() {
    process_request();
}

use token_runtime_id::runtime_id;

#[runtime_id(on_max_depth = "ignore")]
fn process_request() {}

fn main() {
    process_request();
}

use token_runtime_id::runtime_id;

#[runtime_id(prefix = "a\\b")]
fn process_request() {}

fn main() {
    process_request();
}

use token_runtime_id::runtime_id;

#[runtime_id(prefix = "API:v1")]
fn process_request() {}

fn main() {
    process_request();
}

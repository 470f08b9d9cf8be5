use token_runtime_id::runtime_id;

#[runtime_id(max_depth = "3")]
fn process_request() {}

fn main() {
    process_request();
}

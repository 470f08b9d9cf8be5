use token_runtime_id::runtime_id;

#[runtime_id(prefix_process_id = "true")]
fn process_request() {}

fn main() {
    process_request();
}

use token_runtime_id::runtime_id;

#[runtime_id(length = 4.0)]
fn process_request() {}

fn main() {
    process_request();
}

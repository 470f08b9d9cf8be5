use token_runtime_id::runtime_id;

#[runtime_id(config::length = 4)]
fn process_request() {}

fn main() {
    process_request();
}

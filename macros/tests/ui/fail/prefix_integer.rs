use token_runtime_id::runtime_id;

#[runtime_id(prefix = 42)]
fn process_request() {}

fn main() {
    process_request();
}

use token_runtime_id::runtime_id;

#[runtime_id(characters = "ab:")]
fn process_request() {}

fn main() {
    process_request();
}

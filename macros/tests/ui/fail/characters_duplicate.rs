use token_runtime_id::runtime_id;

#[runtime_id(characters = "abca")]
fn process_request() {}

fn main() {
    process_request();
}

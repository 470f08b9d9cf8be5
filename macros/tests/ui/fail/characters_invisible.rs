use token_runtime_id::runtime_id;

#[runtime_id(characters = "ab\u{200B}")]
fn process_request() {}

fn main() {
    process_request();
}

use token_runtime_id::runtime_id;

const LENGTH: usize = 4;

#[runtime_id(length = LENGTH)]
fn process_request() {}

fn main() {
    process_request();
    let _ = LENGTH;
}

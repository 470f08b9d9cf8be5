use token_runtime_id::runtime_id;

#[runtime_id(prefix = "api.v1", sep = ".")]
fn process_request() {}

fn main() {
    process_request();
}

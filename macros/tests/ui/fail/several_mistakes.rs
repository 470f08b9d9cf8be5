use token_runtime_id::runtime_id;

#[runtime_id(length = 0, sep = "", lenght = 4, prefix_process_id = "yes")]
fn process_request() {}

fn main() {
    process_request();
}

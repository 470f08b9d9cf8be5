use token_runtime_id::runtime_id;

// The process ID is written in digits: a `1` in the separator would split it.
#[runtime_id(prefix_process_id = true, characters = "abcdef", sep = "-1-")]
fn process_request() {}

fn main() {
    process_request();
}

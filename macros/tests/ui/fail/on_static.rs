use token_runtime_id::runtime_id;

#[runtime_id]
static GREETING: &str = "hello";

fn main() {
    let _ = GREETING;
}

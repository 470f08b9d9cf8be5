use token_runtime_id::runtime_id;

#[runtime_id]
const fn answer() -> u32 {
    42
}

fn main() {
    let _ = answer();
}

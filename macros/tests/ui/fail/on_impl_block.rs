use token_runtime_id::runtime_id;

struct Service;

#[runtime_id]
impl Service {
    fn handle(&self) {}
}

fn main() {
    Service.handle();
}

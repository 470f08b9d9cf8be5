use token_runtime_id::runtime_id;

trait Handler {
    #[runtime_id]
    fn handle(&self);
}

struct Service;

impl Handler for Service {
    fn handle(&self) {}
}

fn main() {
    Service.handle();
}

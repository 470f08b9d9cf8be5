use token_runtime_id::runtime_id;

#[runtime_id]
mod handlers {
    pub fn handle() {}
}

fn main() {
    handlers::handle();
}

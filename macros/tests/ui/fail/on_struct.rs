use token_runtime_id::runtime_id;

#[runtime_id]
struct Request {
    path: String,
}

fn main() {
    let request = Request { path: "/".into() };
    let _ = request.path;
}

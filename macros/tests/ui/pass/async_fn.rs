#![deny(warnings)]

use std::future::Future;

use token_runtime_id::{RuntimeId, get_runtime_id, runtime_id};

fn require_send<F: Future + Send>(future: F) -> F {
    future
}

#[runtime_id]
async fn free(value: impl Into<String>) -> String {
    tokio::task::yield_now().await;
    value.into()
}

#[runtime_id(length = 4, on_max_depth = "reuse")]
async fn generic<T: Clone + Send>(items: &[T]) -> Vec<T> {
    items.to_vec()
}

#[runtime_id]
async fn result(text: &str) -> Result<u16, Box<dyn std::error::Error + Send + Sync>> {
    if text.is_empty() {
        return Ok(0);
    }
    let value: u16 = text.parse()?;
    Ok(value)
}

struct Client {
    name: String,
}

impl Client {
    #[runtime_id]
    async fn by_ref(&self) -> &str {
        &self.name
    }

    #[runtime_id]
    async fn by_mut(&mut self) {
        self.name.push('!');
    }

    #[runtime_id]
    async fn by_value(self) -> String {
        self.name
    }
}

#[runtime_id]
async fn id() -> RuntimeId {
    get_runtime_id().unwrap()
}

#[tokio::main]
async fn main() {
    assert_eq!(require_send(free("a")).await, "a");
    assert_eq!(require_send(generic(&[1, 2])).await, [1, 2]);
    assert_eq!(require_send(result("7")).await.unwrap(), 7);
    assert!(result("x").await.is_err());
    let mut client = Client { name: "c".into() };
    client.by_mut().await;
    assert_eq!(client.by_ref().await, "c!");
    assert_eq!(require_send(client.by_value()).await, "c!");
    assert_eq!(tokio::spawn(id()).await.unwrap().depth(), 1);
}

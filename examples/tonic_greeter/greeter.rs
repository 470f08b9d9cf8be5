//! The `helloworld.Greeter` gRPC service, written out by hand.
//!
//! This is what `tonic-build` (with `tonic-prost`) generates from
//!
//! ```text
//! syntax = "proto3";
//! package helloworld;
//! service Greeter { rpc SayHello (HelloRequest) returns (HelloReply); }
//! message HelloRequest { string name = 1; }
//! message HelloReply { string message = 1; }
//! ```
//!
//! trimmed to one unary method and without compression or size settings. Written out, it
//! needs no `protoc` and no build script: the messages are `prost` derives, the glue uses
//! tonic's codegen helpers (`tonic::client::Grpc`, `tonic::server::Grpc`,
//! `tonic::server::NamedService`).

// As generated code: public items in a private module, not all of them used.
#![allow(dead_code, unreachable_pub)]

/// `helloworld.HelloRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HelloRequest {
    #[prost(string, tag = "1")]
    pub name: String,
}

/// `helloworld.HelloReply`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HelloReply {
    #[prost(string, tag = "1")]
    pub message: String,
}

const SAY_HELLO: &str = "/helloworld.Greeter/SayHello";

/// The client: `GreeterClient::new(channel)`, or around any tower service that sends
/// `http` requests (a `Channel` wrapped in layers).
pub mod greeter_client {
    use tonic::codegen::http::uri::PathAndQuery;
    use tonic::codegen::{Body, Bytes, GrpcMethod, StdError};

    use super::{HelloReply, HelloRequest, SAY_HELLO};

    #[derive(Debug, Clone)]
    pub struct GreeterClient<T> {
        inner: tonic::client::Grpc<T>,
    }

    impl<T> GreeterClient<T>
    where
        T: tonic::client::GrpcService<tonic::body::Body>,
        T::Error: Into<StdError>,
        T::ResponseBody: Body<Data = Bytes> + Send + 'static,
        <T::ResponseBody as Body>::Error: Into<StdError> + Send,
    {
        pub fn new(inner: T) -> Self {
            GreeterClient {
                inner: tonic::client::Grpc::new(inner),
            }
        }

        pub async fn say_hello(
            &mut self,
            request: impl tonic::IntoRequest<HelloRequest>,
        ) -> Result<tonic::Response<HelloReply>, tonic::Status> {
            self.inner.ready().await.map_err(|err| {
                tonic::Status::unknown(format!("Service was not ready: {}", err.into()))
            })?;
            let codec = tonic_prost::ProstCodec::default();
            let path = PathAndQuery::from_static(SAY_HELLO);
            let mut request = request.into_request();
            request
                .extensions_mut()
                .insert(GrpcMethod::new("helloworld.Greeter", "SayHello"));
            self.inner.unary(request, path, codec).await
        }
    }
}

/// The server: implement [`Greeter`](greeter_server::Greeter), serve
/// `GreeterServer::new(it)`.
pub mod greeter_server {
    use std::convert::Infallible;
    use std::future::Future;
    use std::sync::Arc;
    use std::task::{Context, Poll};

    use tonic::codegen::{Body, BoxFuture, Service, StdError, http};

    use super::{HelloReply, HelloRequest, SAY_HELLO};

    /// The service's methods.
    pub trait Greeter: Send + Sync + 'static {
        fn say_hello(
            &self,
            request: tonic::Request<HelloRequest>,
        ) -> impl Future<Output = Result<tonic::Response<HelloReply>, tonic::Status>> + Send;
    }

    #[derive(Debug)]
    pub struct GreeterServer<T> {
        inner: Arc<T>,
    }

    impl<T> GreeterServer<T> {
        pub fn new(inner: T) -> Self {
            GreeterServer {
                inner: Arc::new(inner),
            }
        }
    }

    impl<T> Clone for GreeterServer<T> {
        fn clone(&self) -> Self {
            GreeterServer {
                inner: Arc::clone(&self.inner),
            }
        }
    }

    impl<T> tonic::server::NamedService for GreeterServer<T> {
        const NAME: &'static str = "helloworld.Greeter";
    }

    /// `SayHello` as tonic's `UnaryService`.
    struct SayHello<T>(Arc<T>);

    impl<T: Greeter> tonic::server::UnaryService<HelloRequest> for SayHello<T> {
        type Response = HelloReply;
        type Future = BoxFuture<tonic::Response<HelloReply>, tonic::Status>;

        fn call(&mut self, request: tonic::Request<HelloRequest>) -> Self::Future {
            let inner = Arc::clone(&self.0);
            Box::pin(async move { inner.say_hello(request).await })
        }
    }

    impl<T, B> Service<http::Request<B>> for GreeterServer<T>
    where
        T: Greeter,
        B: Body + Send + 'static,
        B::Error: Into<StdError> + Send + 'static,
    {
        type Response = http::Response<tonic::body::Body>;
        type Error = Infallible;
        type Future = BoxFuture<Self::Response, Infallible>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, request: http::Request<B>) -> Self::Future {
            let inner = Arc::clone(&self.inner);
            match request.uri().path() {
                SAY_HELLO => Box::pin(async move {
                    let codec = tonic_prost::ProstCodec::default();
                    let mut grpc = tonic::server::Grpc::new(codec);
                    Ok(grpc.unary(SayHello(inner), request).await)
                }),
                _ => Box::pin(async { Ok(tonic::Status::unimplemented("").into_http()) }),
            }
        }
    }
}

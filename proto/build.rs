//! Compiles `pool.proto` into Rust with a pure-Rust parser (protox), so
//! building the crate needs no system `protoc`.

use std::error::Error;

/// The contract, relative to the crate root.
const PROTO_FILE: &str = "pool.proto";

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed={PROTO_FILE}");
    println!("cargo:rerun-if-changed=build.rs");

    let descriptors = protox::compile([PROTO_FILE], ["."])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // The rpc is named `Connect`, which would clash with the generated
        // `connect(endpoint)` constructor; slaves build their own TLS channel
        // anyway and pass it to `SlaveGatewayClient::new`.
        .build_transport(false)
        .emit_rerun_if_changed(false)
        .compile_fds(descriptors)?;
    Ok(())
}

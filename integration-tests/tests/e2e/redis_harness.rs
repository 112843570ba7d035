//! The private Redis harness: it really starts, persists with AOF across a
//! crash, really restarts (without AOF the data is gone), and cleans up.

use std::path::Path;
use std::time::{Duration, Instant};

use tos_pool_integration_tests::redis_server::RedisServer;

async fn connect(server: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(server.url())
        .expect("the harness URL is a valid redis URL")
        .get_multiplexed_async_connection()
        .await
        .expect("the harness only returns once the server answers")
}

async fn set(server: &RedisServer, key: &str, value: &str) {
    let mut connection = connect(server).await;
    let () = redis::cmd("SET")
        .arg(key)
        .arg(value)
        .query_async(&mut connection)
        .await
        .expect("SET succeeds");
}

async fn get(server: &RedisServer, key: &str) -> Option<String> {
    let mut connection = connect(server).await;
    redis::cmd("GET")
        .arg(key)
        .query_async(&mut connection)
        .await
        .expect("GET succeeds")
}

fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test]
async fn starts_and_serves_set_and_get() {
    let server = RedisServer::start().expect("redis-server starts");
    assert_eq!(
        server.url(),
        format!("redis://127.0.0.1:{}/", server.port())
    );
    set(&server, "greeting", "hello").await;
    assert_eq!(get(&server, "greeting").await.as_deref(), Some("hello"));
    assert_eq!(get(&server, "missing").await, None);
}

#[tokio::test]
async fn two_servers_are_independent() {
    let first = RedisServer::start().expect("first redis-server starts");
    let second = RedisServer::start().expect("second redis-server starts");
    assert_ne!(first.port(), second.port());
    set(&first, "key", "first").await;
    assert_eq!(get(&second, "key").await, None);
}

#[tokio::test]
async fn aof_keeps_data_across_a_kill() {
    let mut server = RedisServer::builder()
        .aof(true)
        .start()
        .expect("redis-server starts");
    let port = server.port();
    let old_pid = server.pid();
    set(&server, "balance:tst1", "12345").await;
    server.kill().expect("kill works");
    assert!(!server.is_running());
    server.restart().expect("restart works");
    assert_eq!(server.port(), port, "restart keeps the port");
    assert_ne!(server.pid(), old_pid, "restart runs a new process");
    assert_eq!(get(&server, "balance:tst1").await.as_deref(), Some("12345"));
}

#[tokio::test]
async fn aof_keeps_data_across_a_graceful_stop() {
    let mut server = RedisServer::builder()
        .aof(true)
        .start()
        .expect("redis-server starts");
    set(&server, "k", "v").await;
    server.stop().expect("SHUTDOWN stops the server");
    assert!(!server.is_running());
    server.restart().expect("restart works");
    assert_eq!(get(&server, "k").await.as_deref(), Some("v"));
}

#[tokio::test]
async fn without_persistence_a_kill_loses_the_data() {
    let mut server = RedisServer::start().expect("redis-server starts");
    set(&server, "volatile", "1").await;
    server.kill().expect("kill works");
    server.restart().expect("restart works");
    assert_eq!(get(&server, "volatile").await, None);
}

#[test]
fn drop_stops_the_process_and_removes_the_directory() {
    let server = RedisServer::start().expect("redis-server starts");
    let dir = server.dir().to_path_buf();
    let pid = server.pid().expect("a started server has a process");
    let port = server.port();
    assert!(dir.is_dir());
    assert!(Path::new(&format!("/proc/{pid}")).exists());
    drop(server);
    assert!(!dir.exists(), "the data directory is removed");
    wait_until("the process to be gone", || {
        !Path::new(&format!("/proc/{pid}")).exists()
    });
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "nothing listens on the port any more"
    );
}

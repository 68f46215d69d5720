//! A real coturn (Debian's `coturn`) for the relay-only call test: started on a free port with
//! a generated TURN REST secret, loopback peers allowed (both browsers are on this machine),
//! killed when dropped. Missing, it fails with what to install (`.ci/run` installs it).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

const TURNSERVER: &str = "/usr/bin/turnserver";

pub struct Coturn {
    child: Child,
    pub port: u16,
    pub secret: String,
}

impl Coturn {
    pub async fn start() -> Coturn {
        assert!(
            std::path::Path::new(TURNSERVER).exists(),
            "the relay test needs Debian's coturn at {TURNSERVER}: `apt-get install coturn` \
             (.ci/run installs it)"
        );
        let port = super::cluster::free_port();
        let secret = format!("{:016x}{:016x}", super::random_u64(), super::random_u64());
        let relay_min = 40_000 + (super::random_u64() % 20_000) as u16;
        let child = Command::new(TURNSERVER)
            .args([
                "-n",
                "--listening-ip",
                "127.0.0.1",
                "--relay-ip",
                "127.0.0.1",
                "--listening-port",
                &port.to_string(),
                "--min-port",
                &relay_min.to_string(),
                "--max-port",
                &(relay_min + 200).to_string(),
                "--use-auth-secret",
                "--static-auth-secret",
                &secret,
                "--realm",
                "duoxie.test",
                "--fingerprint",
                "--allow-loopback-peers",
                "--no-tls",
                "--no-dtls",
                "--no-cli",
                "--log-file",
                "stdout",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start turnserver");
        // coturn listens on TCP and UDP at once: the TCP listener answering is the signal
        // that it is ready.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "turnserver did not listen on {port} within 20 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Coturn {
            child,
            port,
            secret,
        }
    }
}

impl Drop for Coturn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

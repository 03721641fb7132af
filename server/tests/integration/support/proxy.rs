//! A TCP proxy that can take a database away: [`Proxy::cut`] closes every open connection and refuses
//! new ones until [`Proxy::restore`] — what a server sees when PostgreSQL restarts or the network to it
//! breaks (the pool's connections die mid-query, reconnecting fails for a while).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A proxy in front of `target`, listening on a port of its own.
pub struct Proxy {
    pub address: SocketAddr,
    up: Arc<AtomicBool>,
    /// Bumped by every cut: connections opened before it end.
    generation: watch::Sender<u64>,
    pub connections: Arc<AtomicU64>,
}

impl Proxy {
    pub async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a proxy port");
        let address = listener.local_addr().expect("the proxy's address");
        let up = Arc::new(AtomicBool::new(true));
        let (generation, _) = watch::channel(0u64);
        let connections = Arc::new(AtomicU64::new(0));
        let proxy = Proxy { address, up: up.clone(), generation: generation.clone(), connections: connections.clone() };
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else { continue };
                if !up.load(Ordering::SeqCst) {
                    drop(inbound); // the database is "down": the connection is closed at once
                    continue;
                }
                connections.fetch_add(1, Ordering::Relaxed);
                let mut cut = generation.subscribe();
                let born = *cut.borrow();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(target).await else { return };
                    tokio::select! {
                        _ = copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.wait_for(|generation| *generation != born) => {}
                    }
                });
            }
        });
        proxy
    }

    /// Closes every open connection and refuses new ones.
    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.generation.send_modify(|generation| *generation += 1);
    }

    /// Accepts connections again.
    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

//! The in-process bus: deliveries go straight to this node's connection registry.

use std::collections::HashSet;

use actix::Addr;
use futures_util::future::BoxFuture;

use super::{Audience, Bus, Delivery};
use crate::bus::registry::{Deliver, OnlineAmong, Registry};

pub struct LocalBus {
    registry: Addr<Registry>,
}

impl LocalBus {
    pub fn new(registry: Addr<Registry>) -> Self {
        Self { registry }
    }
}

impl Bus for LocalBus {
    fn publish(&self, audience: Audience, delivery: Delivery) {
        self.registry.do_send(Deliver { audience, delivery });
    }

    fn online(&self, users: Vec<i64>) -> BoxFuture<'static, HashSet<i64>> {
        let registry = self.registry.clone();
        Box::pin(async move {
            // A registry that is gone (shutdown) has nobody online.
            registry.send(OnlineAmong(users)).await.unwrap_or_default()
        })
    }
}

//! `Keeper::handle_payload`'s future is `Send` for every lifetime, so it can be
//! `tokio::spawn`ed (a service handling events at once does). The check is the compiler's: a
//! future that holds a closure over borrowed data across an await does not build here. (The
//! sweep's future is not spawnable yet: its streams map with closures over borrowed items.)

use std::sync::Arc;

use amikeeper::{Config, HandleOptions, Keeper, MemoryAws};

#[tokio::test]
async fn handle_futures_can_be_spawned() {
    let config = Config::from_toml(
        "accounts = [\"111122223333\"]\n[[rules]]\nname = \"web\"\n[[rules.targets]]\nkind = \"ssm_parameter\"\nname = \"/ami/web\"\n",
    ).unwrap();
    let keeper = Arc::new(Keeper::new(config, Arc::new(MemoryAws::new("111122223333"))));
    let handler = keeper.clone();
    let handled = tokio::spawn(async move { handler.handle_payload(b"{}", &HandleOptions::default()).await });
    assert!(handled.await.unwrap().is_err(), "`{{}}` is no event");
}

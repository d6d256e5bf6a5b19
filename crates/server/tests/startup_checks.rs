//! The start-up self-check of provider accounts (issue 13): a wrong WeChat
//! API key or a wrong Alipay public key shows once, as a misconfigured
//! account in the log, `/readyz` and `/metrics`, instead of per payment.

mod support;

use paycode_server::checks::AccountState;
use support::World;

async fn check(world: &World) {
    let accounts = world.service.process.providers().accounts();
    world.service.accounts.check_all(&accounts).await;
}

async fn text(world: &World, path: &str) -> (u16, String) {
    let response = world
        .http
        .get(format!("{}{path}", world.base))
        .send()
        .await
        .expect("paycode answers");
    let status = response.status().as_u16();
    (status, response.text().await.expect("a body"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn right_keys_pass_the_self_check_and_the_node_is_ready() {
    let world = World::start().await;
    check(&world).await;
    for ((merchant, provider), state) in world.service.accounts.states() {
        assert_eq!(state, AccountState::Ok, "{merchant}/{provider}");
    }
    let (status, body) = text(&world, "/readyz").await;
    assert_eq!(status, 200, "{body}");
    let (_, metrics) = text(&world, "/metrics").await;
    assert!(
        metrics
            .contains("paycode_provider_account_ok{merchant=\"shop-a\",provider=\"wechatpay\"} 1"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_wechat_key_or_alipay_public_key_makes_the_node_not_ready() {
    let keys = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/keys");
    let world = World::start_with(|config| {
        let shop = &mut config.merchants[0];
        let wechat = shop.wechat.as_mut().expect("a WeChat account");
        wechat.api_key =
            serde_json::from_value(serde_json::json!("thisisnotthemerchantsapikey00000"))
                .expect("a key");
        let alipay = shop.alipay.as_mut().expect("an Alipay account");
        // The app's own public key in place of Alipay's: answers never verify.
        alipay.alipay_public_key = format!("{keys}/alipay-app-public.pem").into();
    })
    .await;
    check(&world).await;
    let states = world.service.accounts.states();
    let state_of = |provider: &str| {
        states
            .iter()
            .find(|((merchant, p), _)| merchant == "shop-a" && p == provider)
            .map(|(_, state)| state.clone())
            .expect("checked")
    };
    assert!(
        matches!(state_of("wechatpay"), AccountState::Misconfigured(_)),
        "{states:?}"
    );
    assert!(
        matches!(state_of("alipay"), AccountState::Misconfigured(_)),
        "{states:?}"
    );
    let (status, body) = text(&world, "/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("shop-a/wechatpay"), "{body}");
    assert!(body.contains("shop-a/alipay"), "{body}");
    assert!(
        !body.contains("thisisnotthemerchantsapikey"),
        "never the key: {body}"
    );
    let (_, metrics) = text(&world, "/metrics").await;
    assert!(
        metrics
            .contains("paycode_provider_account_ok{merchant=\"shop-a\",provider=\"wechatpay\"} 0"),
        "{metrics}"
    );
    // The other merchant's (right) WeChat key still checks out.
    assert!(matches!(
        states
            .iter()
            .find(|((merchant, _), _)| merchant == "shop-b")
            .map(|(_, s)| s),
        Some(AccountState::Ok)
    ));
}

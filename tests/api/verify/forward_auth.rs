//! `GET /v1/auth` for gateways: every header form, and trusting the gateway.

use super::*;

#[tokio::test]
async fn forward_auth_reads_every_header_form() {
    let Setup { app, admin, token } = setup().await;
    let CreatedKey { id, secret } =
        create_key(&admin, json!({ "scopes": ["invoices:read"] })).await;
    let http = http();
    let url = format!("{}/v1/auth", app.base);
    let with_token = |request: reqwest::RequestBuilder| {
        request.header("x-keyward-service-token", token.as_str())
    };
    for request in [
        http.get(&url).bearer_auth(&secret),
        http.get(&url).basic_auth(&secret, None::<&str>),
        http.get(&url).header("x-api-key", &secret),
    ] {
        let response = with_token(request).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let headers = response.headers();
        assert_eq!(headers["x-keyward-key-id"], id.as_str());
        assert_eq!(headers["x-keyward-environment"], "live");
        assert_eq!(headers["x-keyward-scopes"], "invoices:read");
        assert!(headers.contains_key("x-keyward-workspace-id"));
    }
    let refused = |request: reqwest::RequestBuilder| async move {
        let response = request.send().await.unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        (status, code(&body).to_owned())
    };
    assert_eq!(
        refused(with_token(http.get(&url))).await,
        (StatusCode::UNAUTHORIZED, "MISSING".into())
    );
    assert_eq!(
        refused(with_token(http.get(&url).bearer_auth(&secret).header(
            "x-keyward-required-scopes",
            "invoices:read,invoices:write"
        )))
        .await,
        (StatusCode::FORBIDDEN, "INSUFFICIENT_SCOPE".into())
    );
    assert_eq!(
        refused(with_token(
            http.get(&url)
                .bearer_auth(&secret)
                .header("x-keyward-environment", "test")
        ))
        .await,
        (StatusCode::UNAUTHORIZED, "WRONG_ENVIRONMENT".into())
    );
    // Required by default: no service token, no answer.
    assert_eq!(
        refused(http.get(&url).bearer_auth(&secret)).await,
        (StatusCode::UNAUTHORIZED, "SERVICE_UNAUTHORIZED".into())
    );
}

#[tokio::test]
async fn forward_auth_can_trust_the_gateway_without_a_token() {
    let Setup { app, admin, .. } =
        setup_with(&[("KEYWARD_FORWARD_AUTH_SERVICE_TOKEN", "false")]).await;
    let CreatedKey { secret, .. } = create_key(&admin, json!({})).await;
    let response = http()
        .get(format!("{}/v1/auth", app.base))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

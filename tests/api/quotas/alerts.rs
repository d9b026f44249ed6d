//! Exactly one alert per (tenant, quota, threshold, period): crossed one by one, hovering,
//! dipping below and rising again — each alert row comes with one outbox event.

use serde_json::json;

use super::{
    alert_events, alert_rows, alerted, at, cap, create_tenant_on, evaluate, invocation_cap, post_invocations, put_as,
    set_quotas,
};
use crate::quota_tests;

quota_tests! {
    async fn thresholds_crossed_one_by_one_raise_exactly_three_alerts(app) {
        // Arrange
        create_tenant_on(&app, "acme", "payg").await;
        set_quotas(&app, "acme", invocation_cap()).await;
        let steps: [(&str, u64, &[u64]); 6] = [
            ("u1", 49, &[]),
            ("u2", 1, &[50]),
            ("u3", 29, &[50]),
            ("u4", 1, &[50, 80]),
            ("u5", 19, &[50, 80]),
            ("u6", 1, &[50, 80, 100]),
        ];
        for (id, invocations, expected) in steps {
            // Act
            post_invocations(&app, "acme", id, invocations).await;
            evaluate(&app).await;
            evaluate(&app).await;
            // Assert
            assert_eq!(alerted(&app).await, cap(expected), "after {id}");
        }
        assert_eq!(alert_rows(&app).await, 3);
        let events = alert_events(&app).await;
        let eighty = events.iter().find(|e| e["threshold"] == 80).unwrap();
        assert_eq!(eighty["tenant_id"], "acme");
        assert_eq!(eighty["meter"], "invocations");
        assert_eq!((eighty["used"].as_str(), eighty["limit"].as_str()), (Some("80"), Some("100")));
        assert_eq!(eighty["late"], false);
        assert_eq!(eighty["hard"], true);
        assert_eq!(eighty["period"], json!({"start": "2026-11-01T00:00:00Z", "end": "2026-12-01T00:00:00Z"}));
        assert!(eighty["projected"].as_str().is_some(), "the projected period total: {eighty}");
        assert_eq!(eighty["event_id"], "quota.threshold_crossed:acme:inv-cap:80:2026-11-01T00:00:00Z");
    }

    async fn usage_hovering_at_a_threshold_alerts_once(app) {
        // Arrange
        create_tenant_on(&app, "acme", "payg").await;
        set_quotas(&app, "acme", invocation_cap()).await;
        post_invocations(&app, "acme", "base", 80).await;
        // Act
        for i in 0..5 {
            evaluate(&app).await;
            post_invocations(&app, "acme", &format!("tick{i}"), 1).await;
        }
        evaluate(&app).await;
        // Assert
        assert_eq!(alerted(&app).await, cap(&[50, 80]), "85 of 100 used: 50 and 80 once each");
        assert_eq!(alert_rows(&app).await, 2);
    }

    async fn a_correction_below_a_threshold_and_a_crossing_again_do_not_alert_twice(app) {
        // Arrange
        create_tenant_on(&app, "acme", "payg").await;
        set_quotas(&app, "acme", invocation_cap()).await;
        post_invocations(&app, "acme", "big", 30).await;
        post_invocations(&app, "acme", "rest", 50).await;
        evaluate(&app).await;
        assert_eq!(alerted(&app).await, cap(&[50, 80]));
        // Act: void 30 (usage 50, below 80), then cross 80 again
        let void = json!({"tenant_id": "acme", "id": "big", "action": "void", "reason": "double counted"});
        let response = app
            .client
            .post(format!("{}/v1/usage/corrections", app.address))
            .bearer_auth(&app.ingest_key)
            .json(&void)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
        evaluate(&app).await;
        post_invocations(&app, "acme", "again", 35).await;
        evaluate(&app).await;
        // Assert
        assert_eq!(alerted(&app).await, cap(&[50, 80]), "80 crossed twice in November alerts once");
        post_invocations(&app, "acme", "over", 15).await;
        evaluate(&app).await;
        assert_eq!(alerted(&app).await, cap(&[50, 80, 100]));
        assert_eq!(alert_rows(&app).await, 3);
    }

    async fn a_spend_quota_on_a_graduated_plan_alerts_on_the_amount_the_invoice_would_draft(app) {
        // Arrange: payg memory is graduated, 400 000 GB-s included, then 0.0000166667 per GB-s
        create_tenant_on(&app, "acme", "payg").await;
        set_quotas(&app, "acme", json!([{"id": "spend", "meter": "spend", "limit": "10.00", "thresholds": [50, 100]}])).await;
        let record = |id: &str, gbs: &str| {
            json!({"id": id, "tenant_id": "acme", "timestamp": "2026-11-27T12:00:00Z", "memory_gb_seconds": gbs})
        };
        assert_eq!(app.post_usage(&record("m1", "699000")).await.status(), 200);
        evaluate(&app).await;
        assert_eq!(alerted(&app).await, vec![], "299 000 net GB-s = 4.98: below 50 %");
        // Act
        assert_eq!(app.post_usage(&record("m2", "1000")).await.status(), 200);
        evaluate(&app).await;
        // Assert: 300 000 net GB-s × 0.0000166667 = 5.00001 → 5.00, half of 10.00
        let events = alert_events(&app).await;
        assert_eq!(events.len(), 1, "{events:?}");
        let current = app.get_json("/v1/tenants/acme/usage/current").await;
        assert_eq!(events[0]["used"], current["amount_so_far"]["subtotal"], "spend is the drafted subtotal");
        assert_eq!((events[0]["used"].as_str(), events[0]["limit"].as_str()), (Some("5.00"), Some("10.00")));
        assert_eq!(events[0]["currency"], "USD");
        assert_eq!(events[0]["meter"], "spend");
    }

    async fn a_quota_whose_limit_changes_alerts_again_at_the_thresholds_of_its_new_limit(app) {
        // Arrange: 80 and 100 % of 100 alerted, then the operator raises the cap to 1000
        create_tenant_on(&app, "acme", "payg").await;
        set_quotas(&app, "acme", invocation_cap()).await;
        post_invocations(&app, "acme", "first", 100).await;
        evaluate(&app).await;
        assert_eq!(alerted(&app).await, cap(&[50, 80, 100]));
        let raised = json!([{"id": "inv-cap", "meter": "invocations", "limit": "1000", "thresholds": [50, 80, 100], "hard": true}]);
        set_quotas(&app, "acme", raised.clone()).await;
        evaluate(&app).await;
        assert_eq!(alerted(&app).await, cap(&[50, 80, 100]), "100 of 1000: nothing new");
        // Act: 850 of 1000, then the new limit itself (the cap blocks from here)
        post_invocations(&app, "acme", "second", 750).await;
        evaluate(&app).await;
        set_quotas(&app, "acme", raised).await;
        evaluate(&app).await;
        post_invocations(&app, "acme", "third", 150).await;
        evaluate(&app).await;
        evaluate(&app).await;
        // Assert: each threshold of the new limit once; saving the same set again re-arms nothing
        assert_eq!(alerted(&app).await, cap(&[50, 50, 80, 80, 100, 100]));
        let of_new_limit: Vec<_> = alert_events(&app).await.into_iter().filter(|e| e["limit"] == "1000").collect();
        let mut seen: Vec<(u64, &str, &str)> = of_new_limit
            .iter()
            .map(|e| (e["threshold"].as_u64().unwrap(), e["used"].as_str().unwrap(), e["event_id"].as_str().unwrap()))
            .collect();
        seen.sort();
        let used: Vec<(u64, &str)> = seen.iter().map(|(t, used, _)| (*t, *used)).collect();
        assert_eq!(used, [(50, "850"), (80, "850"), (100, "1000")], "{seen:?}");
        let old_ids: Vec<String> = alert_events(&app)
            .await
            .iter()
            .filter(|e| e["limit"] == "100")
            .map(|e| e["event_id"].as_str().unwrap().to_owned())
            .collect();
        assert!(seen.iter().all(|(_, _, id)| !old_ids.contains(&id.to_string())), "a new alert has a new event id");
        let entitlement = app.get_json("/v1/tenants/acme/entitlements").await;
        assert_eq!(entitlement["entitlements"][0]["blocked"], true);
    }

    async fn a_quota_id_taken_over_by_another_meter_alerts_for_the_new_meter(app) {
        // Arrange: the operator's "monthly" invocation quota alerted at 50 %, then dropped;
        // the tenant saves a spend budget that happens to have the same id
        create_tenant_on(&app, "acme", "payg").await;
        let invocations = json!([{"id": "monthly", "meter": "invocations", "limit": "100", "thresholds": [50]}]);
        set_quotas(&app, "acme", invocations).await;
        post_invocations(&app, "acme", "u1", 60).await;
        evaluate(&app).await;
        set_quotas(&app, "acme", json!([])).await;
        let budget = json!({"budgets": [{"id": "monthly", "meter": "spend", "limit": "0.10", "thresholds": [50]}]});
        let response = put_as(&app, "/v1/tenants/acme/budgets", &app.admin_key, &budget).await;
        assert_eq!(response.status(), 200);
        // Act: 1 000 000 included + 300 000 × 0.20 / 1 000 000 = 0.06 of 0.10
        post_invocations(&app, "acme", "u2", 1_300_000).await;
        evaluate(&app).await;
        // Assert
        let spend: Vec<_> = alert_events(&app).await.into_iter().filter(|e| e["meter"] == "spend").collect();
        assert_eq!(spend.len(), 1, "the budget's 50 % is not the old quota's: {spend:?}");
        assert_eq!((spend[0]["used"].as_str(), spend[0]["limit"].as_str()), (Some("0.06"), Some("0.10")));
    }

    async fn spend_keeps_the_currency_of_the_periods_draft_once_the_plan_has_ended(app) {
        // Arrange: 0.06 USD of a 0.10 spend quota, then the tenant is deactivated (its
        // subscription ends) and reactivated without a plan: December is still drafted in USD
        create_tenant_on(&app, "acme", "payg").await;
        set_quotas(&app, "acme", json!([{"id": "spend", "meter": "spend", "limit": "0.10", "thresholds": [50]}])).await;
        post_invocations(&app, "acme", "u1", 1_300_000).await;
        let patch = |active: bool| {
            app.client
                .patch(format!("{}/v1/tenants/acme", app.address))
                .bearer_auth(&app.admin_key)
                .json(&json!({"active": active}))
                .send()
        };
        app.clock.set(at("2026-11-27T13:00:00Z"));
        assert_eq!(patch(false).await.unwrap().status(), 200);
        // Act
        let deactivated = app.get_json("/v1/tenants/acme/entitlements").await;
        assert_eq!(patch(true).await.unwrap().status(), 200);
        evaluate(&app).await;
        // Assert
        let current = app.get_json("/v1/tenants/acme/usage/current").await;
        assert_eq!(current["amount_so_far"]["subtotal"], "0.06", "{current}");
        assert_eq!(deactivated["currency"], "USD", "{deactivated}");
        let spend = &deactivated["entitlements"][0];
        assert_eq!((spend["used"].as_str(), spend["limit"].as_str()), (Some("0.06"), Some("0.10")), "{deactivated}");
        let events = alert_events(&app).await;
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!((events[0]["used"].as_str(), events[0]["currency"].as_str()), (Some("0.06"), Some("USD")));
    }
}

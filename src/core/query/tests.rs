use super::*;

#[test]
fn raw_queries_aggregate_by_namespace_over_the_configured_windows() {
    let c = Config::default();
    assert_eq!(
        promql(Statistic::CpuQuantile, Series::Raw, &c),
        r#"quantile_over_time(0.95, sum by (namespace) (rate(container_cpu_usage_seconds_total{container!="", container!="POD"}[5m]))[7d:5m])"#
    );
    assert_eq!(
        promql(Statistic::Memory, Series::Raw, &c),
        r#"max_over_time(sum by (namespace) (container_memory_working_set_bytes{container!="", container!="POD"})[7d:5m])"#
    );
    assert_eq!(
        promql(Statistic::NetworkMax, Series::Raw, &c),
        "max_over_time((sum by (namespace) (rate(container_network_receive_bytes_total[5m])) \
         + sum by (namespace) (rate(container_network_transmit_bytes_total[5m])))[7d:5m])"
    );
    let mut custom = Config::default();
    custom.rightsizing.window = Span::days(14);
    custom.rightsizing.cpu_quantile = 0.9;
    custom.rightsizing.memory_statistic = MemoryStatistic::QuantileWorkingSet;
    custom.idle.window = Span::days(3);
    for series in [Series::Raw, Series::Recorded] {
        let q = |s| promql(s, series, &custom);
        assert!(q(Statistic::CpuQuantile).starts_with("quantile_over_time(0.9, "));
        assert!(q(Statistic::CpuQuantile).ends_with("[14d:5m])"));
        assert!(q(Statistic::Memory).starts_with("quantile_over_time(0.9, "));
        assert!(q(Statistic::Memory).ends_with("[14d:5m])"));
        assert!(q(Statistic::CpuMax).ends_with("[3d:5m])"));
        assert!(q(Statistic::NetworkMax).ends_with("[3d:5m])"));
    }
}

#[test]
fn recorded_queries_take_the_same_statistic_of_the_recorded_series() {
    let c = Config::default();
    assert_eq!(
        promql(Statistic::CpuQuantile, Series::Recorded, &c),
        "quantile_over_time(0.95, sum by (namespace) (namespace:container_cpu_usage_seconds:sum_rate5m)[7d:5m])"
    );
    assert_eq!(
        promql(Statistic::CpuMax, Series::Recorded, &c),
        "max_over_time(sum by (namespace) (namespace:container_cpu_usage_seconds:sum_rate5m)[7d:5m])"
    );
    assert_eq!(
        promql(Statistic::Memory, Series::Recorded, &c),
        "max_over_time(sum by (namespace) (namespace:container_memory_working_set_bytes:sum)[7d:5m])"
    );
    assert_eq!(
        promql(Statistic::NetworkMax, Series::Recorded, &c),
        "max_over_time(sum by (namespace) (namespace:container_network_bytes:sum_rate5m)[7d:5m])"
    );
    assert_eq!(
        steps_promql(Series::Recorded, &c),
        "count_over_time(sum by (namespace) (namespace:container_cpu_usage_seconds:sum_rate5m)[7d:5m])"
    );
}

#[test]
fn every_statistic_query_groups_by_namespace_only() {
    let c = Config::default();
    for s in Statistic::ALL {
        for series in [Series::Raw, Series::Recorded] {
            let q = promql(s, series, &c);
            assert!(q.contains("sum by (namespace)"), "{q}");
            assert!(!q.contains("by (pod") && !q.contains("namespace=\""), "{q}");
        }
    }
}

#[test]
fn the_selector_reaches_every_series_selector_of_every_query() {
    let mut c = Config::default();
    c.pricing.source = crate::core::config::PriceSource::Opencost;
    c.prometheus.selector = r#"cluster="a", job="kubelet""#.into();
    let mut queries = vec![coverage_promql(&c)];
    for series in [Series::Raw, Series::Recorded] {
        queries.push(steps_promql(series, &c));
        queries.extend(Statistic::ALL.map(|s| promql(s, series, &c)));
    }
    queries.extend(Statistic::ALL.map(|s| recorded_history_promql(s, &c)));
    queries.extend(opencost_promql(&c));
    for q in &queries {
        // Every metric name is followed by a selector that holds the configured matchers.
        let names = [
            "container_cpu_usage_seconds_total",
            "container_memory_working_set_bytes",
            "container_network_receive_bytes_total",
            "container_network_transmit_bytes_total",
            RECORDED_CPU,
            RECORDED_MEMORY,
            RECORDED_NETWORK,
            "node_cpu_hourly_cost",
            "node_ram_hourly_cost",
        ];
        let mut seen = 0;
        for name in names {
            for (at, _) in q.match_indices(name) {
                let after = &q[at + name.len()..];
                if after.starts_with('_') || after.starts_with(':') {
                    continue;
                }
                let Some(inside) = after.strip_prefix('{') else {
                    panic!("`{name}` without a selector in {q}");
                };
                let inside = &inside[..inside.find('}').unwrap()];
                assert!(
                    inside.ends_with(r#"cluster="a", job="kubelet""#),
                    "{name} in {q}"
                );
                seen += 1;
            }
        }
        assert!(seen > 0, "no series found in {q}");
    }
    assert_eq!(
        coverage_promql(&c),
        r#"count by (namespace) (container_cpu_usage_seconds_total{container!="", container!="POD", cluster="a", job="kubelet"})"#
    );
}

#[test]
fn the_history_check_asks_for_the_recorded_series_at_the_window_start_and_now() {
    let mut c = Config::default();
    c.idle.window = Span::days(3);
    c.prometheus.selector = r#"cluster="b""#.into();
    assert_eq!(
        recorded_history_promql(Statistic::CpuQuantile, &c),
        r#"count(namespace:container_cpu_usage_seconds:sum_rate5m{cluster="b"} offset 7d) and count(namespace:container_cpu_usage_seconds:sum_rate5m{cluster="b"})"#
    );
    assert!(recorded_history_promql(Statistic::CpuMax, &c).contains("offset 3d)"));
    assert!(
        recorded_history_promql(Statistic::NetworkMax, &c).starts_with(
            "count(namespace:container_network_bytes:sum_rate5m{cluster=\"b\"} offset 3d)"
        )
    );
}

#[test]
fn missing_time_counts_absent_steps_beyond_the_tolerance() {
    let week = Span::days(7);
    // 2016 five-minute steps in 7d; Prometheus 2.x may count one more.
    assert_eq!(missing_time(2016.0, week), None);
    assert_eq!(missing_time(2017.0, week), None);
    assert_eq!(missing_time(2013.0, week), None, "15 minutes: tolerated");
    assert_eq!(missing_time(2012.0, week), Some(Span::seconds(20 * 60)));
    assert_eq!(missing_time(2016.0 - 288.0, week), Some(Span::days(1)));
    assert_eq!(missing_time(0.0, week), Some(week));
    assert_eq!(missing_time(f64::NAN, week), Some(week));
    assert_eq!(missing_time(-3.0, week), Some(week));
    assert_eq!(missing_time(864.0, Span::days(3)), None);
}

#[test]
fn the_gap_query_counts_the_idle_subquery_steps() {
    let mut c = Config::default();
    c.idle.window = Span::days(3);
    assert_eq!(
        steps_promql(Series::Raw, &c),
        r#"count_over_time(sum by (namespace) (rate(container_cpu_usage_seconds_total{container!="", container!="POD"}[5m]))[3d:5m])"#
    );
}

//! The figures of one pipeline run, printed.

use std::time::Duration;

use super::{BenchPipelineArgs, EvalRate, Measured};

/// Prints one run's figures; answers its end-to-end rate.
pub(super) fn report(
    args: &BenchPipelineArgs,
    file_bytes: u64,
    last_of_card: &[String],
    m: &Measured,
    eval: &EvalRate,
) -> f64 {
    let secs = |d: Duration| d.as_secs_f64();
    let total = secs(m.queryable);
    println!("pipeline benchmark: {} rows through spend dev", m.accepted);
    println!(
        "  file              {} rows, {:.1} MB, {} cards, seed {}, {} partitions",
        args.rows,
        file_bytes as f64 / 1e6,
        last_of_card.len(),
        args.seed,
        args.partitions
    );
    println!(
        "  upload            {:.2} s  ({:.0} rows/s; every accepted row durably on the broker)",
        secs(m.uploaded),
        m.accepted as f64 / secs(m.uploaded)
    );
    println!(
        "  all written       {:.2} s  (spend_rewarder_records_total reached {})",
        secs(m.written),
        m.accepted
    );
    println!(
        "  all queryable     {:.2} s  (last id of each of {} cards answered 200)",
        total,
        last_of_card.len()
    );
    let end_to_end = m.accepted as f64 / total;
    println!("  end to end        {end_to_end:.0} rows/s");
    println!(
        "  spend eval        {:.0} rows/s on the same file ({:.2} s, peak RSS {} MB)",
        eval.rows_per_sec,
        eval.elapsed.as_secs_f64(),
        eval.peak_rss / (1 << 20)
    );
    println!(
        "  ratio             {:.2} of spend eval",
        end_to_end / eval.rows_per_sec
    );
    if let Some(t) = &m.transport {
        let per_row = |cpu: Option<Duration>| {
            cpu.map(|c| format!("{:.1}", c.as_secs_f64() * 1e6 / t.rows.max(1) as f64))
                .unwrap_or_else(|| "?".into())
        };
        println!(
            "  bare transport    {:.0} rows/s = {:.2} of spend eval: bare producer and consumer \
             through the same broker, no engine, no store (µs of CPU per row: broker {}, \
             clients {})",
            t.rows_per_sec(),
            t.rows_per_sec() / eval.rows_per_sec,
            per_row(t.broker_cpu),
            per_row(t.clients_cpu),
        );
        println!(
            "  of transport      end to end is {:.2} of the bare transport",
            end_to_end / t.rows_per_sec()
        );
    }
    println!(
        "  spend dev         peak RSS {} MB, CPU {:.1} s",
        m.peak_rss / (1 << 20),
        m.cpu.as_secs_f64()
    );
    println!(
        "  load average      {} before, {} after",
        m.load_before, m.load_after
    );
    println!("  CPU by thread kind (µs per row):");
    for (kind, cpu) in &m.cpu_by_thread {
        if cpu.is_zero() {
            continue;
        }
        println!(
            "    {kind:<18} {:>7.2} s  {:>6.1}",
            cpu.as_secs_f64(),
            cpu.as_secs_f64() * 1e6 / m.accepted.max(1) as f64
        );
    }
    if let Some(n) = m.verified {
        println!("  verified          every one of {n} ids answered 200 (untimed)");
    }
    end_to_end
}

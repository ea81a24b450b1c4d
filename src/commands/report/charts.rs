//! Charts drawn with plotters: axes with ticks, a grid and a legend.

use std::path::Path;

use plotters::prelude::*;

use super::sweep::{Spread, SweepReport};

const VALIDATION: RGBColor = RGBColor(31, 119, 180);
const TEST: RGBColor = RGBColor(214, 39, 40);

/// `sweep.svg`: validation and test accuracy of each configuration, mean with error bars of
/// one standard deviation over seeds, configurations along the x axis in grid order.
pub fn sweep_chart(path: &Path, report: &SweepReport) -> Result<(), Box<dyn std::error::Error>> {
    let n = report.configurations.len().max(1);
    let width = (160 + 110 * n as u32).clamp(640, 1600);
    let root = SVGBackend::new(path, (width, 420)).into_drawing_area();
    root.fill(&WHITE)?;
    let spreads = |f: fn(&super::sweep::Configuration) -> Option<Spread>| -> Vec<(usize, Spread)> {
        report
            .configurations
            .iter()
            .enumerate()
            .filter_map(|(i, c)| f(c).map(|s| (i, s)))
            .collect()
    };
    let validation = spreads(|c| c.validation_accuracy);
    let test = spreads(|c| c.test_accuracy);
    let low = validation
        .iter()
        .chain(&test)
        .map(|(_, s)| s.mean - s.sd.unwrap_or(0.0))
        .fold(1.0f64, f64::min);
    let y_min = ((low - 0.05) * 20.0).floor() / 20.0;
    let labels: Vec<String> = report
        .configurations
        .iter()
        .map(|c| c.label.clone())
        .collect();
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "Sweep {}: accuracy per configuration (mean ± sd over seeds)",
                report.sweep
            ),
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(50)
        .y_label_area_size(60)
        .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), y_min.max(0.0)..1.0f64)?;
    chart
        .configure_mesh()
        .x_labels(n)
        .x_label_formatter(&|x| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && i >= 0.0 {
                labels.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .x_desc("configuration")
        .y_desc("accuracy")
        .y_label_formatter(&|y| format!("{y:.2}"))
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    for (name, color, offset, points) in [
        ("validation (last epoch)", VALIDATION, -0.06, &validation),
        ("test", TEST, 0.06, &test),
    ] {
        let xy: Vec<(f64, f64)> = points
            .iter()
            .map(|(i, s)| (*i as f64 + offset, s.mean))
            .collect();
        chart
            .draw_series(LineSeries::new(xy.clone(), color.stroke_width(2)))?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
        chart.draw_series(xy.iter().map(|p| Circle::new(*p, 4, color.filled())))?;
        chart.draw_series(points.iter().filter_map(|(i, s)| {
            let sd = s.sd?;
            let x = *i as f64 + offset;
            Some(ErrorBar::new_vertical(
                x,
                s.mean - sd,
                s.mean,
                s.mean + sd,
                color.stroke_width(1),
                8,
            ))
        }))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.3))
        .position(SeriesLabelPosition::LowerRight)
        .draw()?;
    root.present()?;
    Ok(())
}

//! Charts drawn with plotters: axes with ticks, a grid and a legend.

use std::path::Path;

use plotters::prelude::*;

use super::sweep::{Spread, SweepReport};

const VALIDATION: RGBColor = RGBColor(31, 119, 180);

/// A legend's sample: a short line in the series' style.
fn legend_line<S: Into<ShapeStyle>>((x, y): (i32, i32), style: S) -> PathElement<(i32, i32)> {
    PathElement::new(vec![(x, y), (x + 18, y)], style)
}
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
            .legend(move |at| legend_line(at, color.stroke_width(2)));
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

/// `training.svg`: the loss at each logged step (thin) and its moving average over five log
/// points (thick), on the left axis; validation accuracy at the end of each epoch on the right.
pub fn training_chart(
    path: &Path,
    loss: &[(f64, f64)],
    validation: &[(f64, f64)],
) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::new(path, (860, 420)).into_drawing_area();
    root.fill(&WHITE)?;
    let max_step = loss
        .iter()
        .chain(validation)
        .map(|p| p.0)
        .fold(1.0f64, f64::max);
    let max_loss = loss.iter().map(|p| p.1).fold(0.1f64, f64::max) * 1.05;
    let mut chart = ChartBuilder::on(&root)
        .caption("Training loss and validation accuracy", ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .right_y_label_area_size(60)
        .build_cartesian_2d(0f64..max_step, 0f64..max_loss)?
        .set_secondary_coord(0f64..max_step, 0f64..1.0f64);
    chart
        .configure_mesh()
        .x_desc("optimizer step")
        .y_desc("cross-entropy loss")
        .y_label_formatter(&|y| format!("{y:.2}"))
        .x_label_formatter(&|x| format!("{x:.0}"))
        .draw()?;
    chart
        .configure_secondary_axes()
        .y_desc("validation accuracy")
        .y_label_formatter(&|y| format!("{y:.1}"))
        .draw()?;
    chart
        .draw_series(LineSeries::new(
            loss.iter().copied(),
            VALIDATION.mix(0.35).stroke_width(1),
        ))?
        .label("loss (each logged step)")
        .legend(|at| legend_line(at, VALIDATION.mix(0.35)));
    chart
        .draw_series(LineSeries::new(
            moving_average(loss, 5),
            VALIDATION.stroke_width(3),
        ))?
        .label("loss, moving average of 5")
        .legend(|at| legend_line(at, VALIDATION.stroke_width(3)));
    chart
        .draw_secondary_series(LineSeries::new(
            validation.iter().copied(),
            TEST.stroke_width(2),
        ))?
        .label("validation accuracy (each epoch)")
        .legend(|at| legend_line(at, TEST.stroke_width(2)));
    chart.draw_secondary_series(validation.iter().map(|p| Circle::new(*p, 4, TEST.filled())))?;
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.3))
        .position(SeriesLabelPosition::LowerLeft)
        .draw()?;
    root.present()?;
    Ok(())
}

/// The mean of each point and the `window - 1` before it.
fn moving_average(points: &[(f64, f64)], window: usize) -> Vec<(f64, f64)> {
    points
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let from = (i + 1).saturating_sub(window);
            let part = &points[from..=i];
            (
                p.0,
                part.iter().map(|q| q.1).sum::<f64>() / part.len() as f64,
            )
        })
        .collect()
}

/// `confusion.svg`: the test set's confusion matrix as a heat map, each cell with its count
/// and its share of the true class.
pub fn confusion_chart(
    path: &Path,
    labels: &[&str],
    rows: &[Vec<usize>],
) -> Result<(), Box<dyn std::error::Error>> {
    let n = labels.len();
    let root = SVGBackend::new(path, (560, 500)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Confusion matrix, test set (rows: true, columns: predicted)",
            ("sans-serif", 16),
        )
        .margin(14)
        .x_label_area_size(50)
        .y_label_area_size(90)
        .build_cartesian_2d(0f64..n as f64, 0f64..n as f64)?;
    let name = |v: &f64| {
        let i = v.floor() as usize;
        if (v - i as f64 - 0.5).abs() < 1e-6 {
            labels.get(i).map(|s| s.to_string()).unwrap_or_default()
        } else {
            String::new()
        }
    };
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(2 * n + 1)
        .y_labels(2 * n + 1)
        .x_label_formatter(&name)
        // Row 0 at the top, as a table reads.
        .y_label_formatter(&|v| name(&(n as f64 - v)))
        .x_desc("predicted")
        .y_desc("true")
        .draw()?;
    let most = rows.iter().flatten().copied().max().unwrap_or(1).max(1) as f64;
    for (r, row) in rows.iter().enumerate() {
        let total: usize = row.iter().sum();
        for (c, &count) in row.iter().enumerate() {
            let shade = 1.0 - 0.85 * count as f64 / most;
            let fill = RGBColor(
                (255.0 * shade) as u8,
                (255.0 * (0.4 + 0.6 * shade)) as u8,
                255,
            );
            let top = (n - r) as f64;
            chart.draw_series(std::iter::once(Rectangle::new(
                [(c as f64, top), (c as f64 + 1.0, top - 1.0)],
                fill.filled(),
            )))?;
            let text_color = if shade < 0.5 { WHITE } else { BLACK };
            let share = 100.0 * count as f64 / total.max(1) as f64;
            chart.draw_series(std::iter::once(Text::new(
                format!("{count} ({share:.0}%)"),
                (c as f64 + 0.32, top - 0.45),
                ("sans-serif", 16).into_font().color(&text_color),
            )))?;
        }
    }
    root.present()?;
    Ok(())
}

/// `gpu.svg`: GPU utilisation (left) and memory in use (right) at each NVML sample.
pub fn gpu_chart(
    path: &Path,
    samples: &[(u64, u64, u64)],
) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::new(path, (860, 360)).into_drawing_area();
    root.fill(&WHITE)?;
    let n = samples.len().max(2) as f64;
    let total = samples.iter().map(|s| s.2).max().unwrap_or(1).max(1) as f64;
    let mut chart = ChartBuilder::on(&root)
        .caption("GPU during training (NVML samples)", ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .right_y_label_area_size(70)
        .build_cartesian_2d(0f64..n - 1.0, 0f64..100f64)?
        .set_secondary_coord(0f64..n - 1.0, 0f64..total);
    chart
        .configure_mesh()
        .x_desc("sample")
        .y_desc("utilisation (%)")
        .draw()?;
    chart
        .configure_secondary_axes()
        .y_desc("memory in use (MiB)")
        .draw()?;
    chart
        .draw_series(LineSeries::new(
            samples
                .iter()
                .enumerate()
                .map(|(i, s)| (i as f64, s.0 as f64)),
            VALIDATION.stroke_width(2),
        ))?
        .label("utilisation")
        .legend(|at| legend_line(at, VALIDATION.stroke_width(2)));
    chart
        .draw_secondary_series(LineSeries::new(
            samples
                .iter()
                .enumerate()
                .map(|(i, s)| (i as f64, s.1 as f64)),
            TEST.stroke_width(2),
        ))?
        .label("memory in use")
        .legend(|at| legend_line(at, TEST.stroke_width(2)));
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.3))
        .position(SeriesLabelPosition::LowerRight)
        .draw()?;
    root.present()?;
    Ok(())
}

/// The PNG of an SVG chart, next to it (`training.png`), rasterised by resvg at twice the
/// SVG's size with the machine's own fonts; on a machine without fonts the text is left out.
pub fn png_of(svg: &Path) -> Result<std::path::PathBuf, Box<dyn std::error::Error>> {
    use resvg::{tiny_skia, usvg};
    let data = std::fs::read(svg)?;
    let mut options = usvg::Options::default();
    let fonts = options.fontdb_mut();
    fonts.load_system_fonts();
    // plotters writes the generic `sans-serif`; fontdb maps it to Arial unless told otherwise.
    let family = [
        "DejaVu Sans",
        "Liberation Sans",
        "Noto Sans",
        "Arial",
        "Helvetica",
    ]
    .into_iter()
    .find(|name| {
        fonts
            .faces()
            .any(|f| f.families.iter().any(|(family, _)| family == name))
    });
    if let Some(name) = family {
        fonts.set_sans_serif_family(name);
    }
    let tree = usvg::Tree::from_data(&data, &options)?;
    let size = tree.size().to_int_size();
    let mut pixmap = tiny_skia::Pixmap::new(size.width() * 2, size.height() * 2)
        .ok_or("the chart has no area")?;
    resvg::render(
        &tree,
        tiny_skia::Transform::from_scale(2.0, 2.0),
        &mut pixmap.as_mut(),
    );
    let png = svg.with_extension("png");
    pixmap.save_png(&png)?;
    Ok(png)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_moving_average_looks_back() {
        let pts = [(1.0, 4.0), (2.0, 2.0), (3.0, 0.0)];
        assert_eq!(
            moving_average(&pts, 2),
            [(1.0, 4.0), (2.0, 3.0), (3.0, 1.0)]
        );
    }

    #[test]
    fn charts_have_axes_ticks_and_legends() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("t.svg");
        let loss: Vec<(f64, f64)> = (1..=20)
            .map(|i| (i as f64 * 10.0, 1.0 / i as f64))
            .collect();
        training_chart(&p, &loss, &[(100.0, 0.8), (200.0, 0.9)]).unwrap();
        let svg = std::fs::read_to_string(&p).unwrap();
        for text in [
            "optimizer step",
            "validation accuracy",
            "moving average",
            "100",
        ] {
            assert!(svg.contains(text), "{text} missing");
        }
        let p = tmp.path().join("c.svg");
        confusion_chart(
            &p,
            &["negative", "neutral", "positive"],
            &[vec![28, 0, 2], vec![0, 135, 4], vec![3, 0, 54]],
        )
        .unwrap();
        let svg = std::fs::read_to_string(&p).unwrap();
        assert!(
            svg.contains("135 (97%)") && svg.contains("predicted"),
            "{svg}"
        );
    }
}

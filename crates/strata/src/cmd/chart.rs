//! PNG line charts for the reports (`strata demo`, `strata report`): one line per named
//! series over a shared x axis. Text needs a system font; where none loads, the chart is
//! drawn without text rather than not at all (as `strata sim --plot` does).

use anyhow::anyhow;
use plotters::prelude::*;
use std::path::Path;

const SIZE_PX: (u32, u32) = (960, 480);

/// What one chart shows; `lines` are (name, points) in legend order.
pub struct LineChart<'a> {
    pub title: &'a str,
    pub x_desc: &'a str,
    pub y_desc: &'a str,
    pub lines: Vec<(&'a str, &'a [(f64, f64)])>,
}

impl LineChart<'_> {
    /// Draws the chart into `path` (PNG).
    pub fn write_png(&self, path: &Path) -> anyhow::Result<()> {
        self.draw(path, true)
            .or_else(|_| self.draw(path, false))
            .map_err(|message| anyhow!("cannot write plot {}: {message}", path.display()))
    }

    fn draw(&self, path: &Path, with_text: bool) -> Result<(), String> {
        let err = |e: &dyn std::fmt::Display| e.to_string();
        let root = BitMapBackend::new(path, SIZE_PX).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let points = || self.lines.iter().flat_map(|(_, line)| line.iter());
        let x_max = points().map(|p| p.0).fold(1.0_f64, f64::max);
        let y_max = points().map(|p| p.1).fold(0.0_f64, f64::max).max(1e-3) * 1.1;
        let mut builder = ChartBuilder::on(&root);
        builder.margin(20);
        if with_text {
            builder
                .caption(self.title, ("sans-serif", 22))
                .x_label_area_size(45)
                .y_label_area_size(65);
        }
        let mut chart = builder
            .build_cartesian_2d(0.0..x_max, 0.0..y_max)
            .map_err(|e| err(&e))?;
        if with_text {
            chart
                .configure_mesh()
                .x_desc(self.x_desc)
                .y_desc(self.y_desc)
                .draw()
                .map_err(|e| err(&e))?;
        }
        for (i, (name, line)) in self.lines.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            let drawn = chart
                .draw_series(LineSeries::new(line.iter().copied(), color.stroke_width(2)))
                .map_err(|e| err(&e))?;
            if with_text {
                drawn.label(*name).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(3))
                });
            }
        }
        if with_text {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()
                .map_err(|e| err(&e))?;
        }
        root.present().map_err(|e| err(&e))
    }
}

/// Text made safe for HTML.
pub fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

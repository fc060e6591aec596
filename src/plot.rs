//! Charts for studies, reports and examples: PNG and SVG from one description.
//!
//! A [`Chart`] is a plain description (title, axis labels, linear or log axes, series);
//! [`Chart::save`] renders it with `plotters` to `STEM.png` and `STEM.svg`. Text uses the DejaVu
//! Sans font embedded in the binary, so no system font or fontconfig is needed.
//!
//! # Examples
//!
//! ```
//! use aot::plot::{Chart, Series};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let pts: Vec<(f64, f64)> = (1..=8).map(|k| (f64::from(k), 1.0 / f64::from(k).sqrt())).collect();
//! let files = Chart::new("error vs n", "n", "error")
//!     .log_x()
//!     .log_y()
//!     .series(Series::points("measured", pts.clone()))
//!     .series(Series::dashed("n^-1/2", pts))
//!     .save(&dir.path().join("rate"))?;
//! assert_eq!(files.len(), 2);
//! assert!(files.iter().all(|f| f.exists()));
//! # Ok::<(), aot::Error>(())
//! ```

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::combinators::IntoLogRange;
use plotters::coord::ranged1d::{Ranged, ValueFormatter};
use plotters::prelude::*;

use crate::error::{Error, Result};

/// How a series is drawn.
#[derive(Debug, Clone, PartialEq)]
pub enum SeriesKind {
    /// A solid line through the points.
    Line,
    /// A dashed line (references, bounds).
    Dashed,
    /// Markers only.
    Points,
    /// Markers with vertical error bars: `(x, y, low, high)`.
    ErrorBars(Vec<(f64, f64, f64, f64)>),
    /// A shaded band between two curves: `(x, low, high)`, drawn under the other series; an
    /// entry with a NaN splits it into separate pieces.
    Band(Vec<(f64, f64, f64)>),
}

/// One named series of a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend entry.
    pub name: String,
    /// Points `(x, y)` (empty for bands and error bars, which carry their own).
    pub points: Vec<(f64, f64)>,
    /// How to draw it.
    pub kind: SeriesKind,
    /// Palette index (series are coloured in order unless set).
    pub color: Option<usize>,
}

impl Series {
    /// A solid line.
    pub fn line(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Self {
            name: name.into(),
            points,
            kind: SeriesKind::Line,
            color: None,
        }
    }

    /// A dashed line.
    pub fn dashed(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Self {
            name: name.into(),
            points,
            kind: SeriesKind::Dashed,
            color: None,
        }
    }

    /// Markers.
    pub fn points(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Self {
            name: name.into(),
            points,
            kind: SeriesKind::Points,
            color: None,
        }
    }

    /// Markers with error bars `(x, y, low, high)`.
    pub fn error_bars(name: impl Into<String>, bars: Vec<(f64, f64, f64, f64)>) -> Self {
        let points = bars.iter().map(|b| (b.0, b.1)).collect();
        Self {
            name: name.into(),
            points,
            kind: SeriesKind::ErrorBars(bars),
            color: None,
        }
    }

    /// A shaded band `(x, low, high)`, for example the levels where dominance fails.
    pub fn band(name: impl Into<String>, band: Vec<(f64, f64, f64)>) -> Self {
        Self {
            name: name.into(),
            points: Vec::new(),
            kind: SeriesKind::Band(band),
            color: None,
        }
    }

    /// Sets the palette colour.
    pub fn with_color(mut self, index: usize) -> Self {
        self.color = Some(index);
        self
    }

    fn extent(&self) -> Vec<(f64, f64)> {
        match &self.kind {
            SeriesKind::ErrorBars(b) => b.iter().flat_map(|b| [(b.0, b.2), (b.0, b.3)]).collect(),
            SeriesKind::Band(b) => b.iter().flat_map(|b| [(b.0, b.1), (b.0, b.2)]).collect(),
            _ => self.points.clone(),
        }
    }
}

/// A chart description; see the module docs.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// Title above the plot.
    pub title: String,
    /// Label of the x axis, with units.
    pub x_label: String,
    /// Label of the y axis, with units.
    pub y_label: String,
    /// Logarithmic x axis.
    pub log_x: bool,
    /// Logarithmic y axis.
    pub log_y: bool,
    /// Series in drawing order (bands are drawn first).
    pub series: Vec<Series>,
    /// Size in pixels.
    pub size: (u32, u32),
    /// Put the legend in the upper left corner instead of the upper right.
    pub legend_left: bool,
}

/// Colour-blind-friendly palette (Okabe–Ito).
const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(120, 120, 120),
    RGBColor(240, 228, 66),
];

/// A short tick label: plain with at most 4 significant digits in `[1e-3, 1e5)`, otherwise
/// scientific (`2e-12`, `1.5e9`), so that log axes spanning many decades stay readable.
fn tick_label(v: f64) -> String {
    let a = v.abs();
    if v == 0.0 {
        "0".to_string()
    } else if (1e-3..1e5).contains(&a) {
        let digits = (3 - a.log10().floor() as i32).max(0) as usize;
        let s = format!("{v:.digits$}");
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    } else {
        format!("{v:.1e}").replace(".0e", "e")
    }
}

static FONTS: Once = Once::new();

fn register_fonts() {
    FONTS.call_once(|| {
        // The embedded font is valid TrueType; a failure would only mean no text in the charts,
        // and plotters then reports FontUnavailable on drawing, which `save` turns into an error.
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            dejavu::sans::regular(),
        );
        let _ = plotters::style::register_font("sans-serif", FontStyle::Bold, dejavu::sans::bold());
    });
}

impl Chart {
    /// A new chart with linear axes and no series.
    pub fn new(
        title: impl Into<String>,
        x_label: impl Into<String>,
        y_label: impl Into<String>,
    ) -> Self {
        Self {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            log_x: false,
            log_y: false,
            series: Vec::new(),
            size: (960, 640),
            legend_left: false,
        }
    }

    /// Logarithmic x axis (non-positive x values are left out).
    pub fn log_x(mut self) -> Self {
        self.log_x = true;
        self
    }

    /// Logarithmic y axis (non-positive y values are left out).
    pub fn log_y(mut self) -> Self {
        self.log_y = true;
        self
    }

    /// Moves the legend to the upper left corner (for curves that rise to the right).
    pub fn legend_upper_left(mut self) -> Self {
        self.legend_left = true;
        self
    }

    /// Adds a series.
    pub fn series(mut self, series: Series) -> Self {
        self.series.push(series);
        self
    }

    /// Renders to `STEM.png` and `STEM.svg` and returns both paths.
    ///
    /// # Errors
    ///
    /// [`Error::Output`] when a file cannot be written or the chart has no finite point.
    pub fn save(&self, stem: &Path) -> Result<Vec<PathBuf>> {
        let png = stem.with_extension("png");
        let svg = stem.with_extension("svg");
        self.render_to(
            BitMapBackend::new(&png, self.size).into_drawing_area(),
            &png,
        )?;
        self.render_to(SVGBackend::new(&svg, self.size).into_drawing_area(), &svg)?;
        Ok(vec![png, svg])
    }

    /// Renders to an SVG string (for embedding in HTML).
    ///
    /// # Errors
    ///
    /// [`Error::Output`] when the chart has no finite point.
    pub fn to_svg_string(&self) -> Result<String> {
        let mut out = String::new();
        {
            let area = SVGBackend::with_string(&mut out, self.size).into_drawing_area();
            self.render_to(area, Path::new("<svg string>"))?;
        }
        Ok(out)
    }

    fn ranges(&self) -> Option<(Range<f64>, Range<f64>)> {
        let ok = |v: f64, log: bool| v.is_finite() && (!log || v > 0.0);
        let pts: Vec<(f64, f64)> = self
            .series
            .iter()
            .flat_map(Series::extent)
            .filter(|&(x, y)| ok(x, self.log_x) && ok(y, self.log_y))
            .collect();
        if pts.is_empty() {
            return None;
        }
        let span = |vals: Vec<f64>, log: bool| {
            let lo = vals.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = vals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            if log {
                // At most 30 decades: wider log axes carry no information and make plotters
                // draw a mesh line per decade.
                let (l, h) = (
                    lo.ln().max(hi.ln() - 30.0 * std::f64::consts::LN_10),
                    hi.ln(),
                );
                let pad = if h > l { 0.05 * (h - l) } else { 0.5 };
                (l - pad).exp()..(h + pad).exp()
            } else {
                let pad = if hi > lo {
                    0.05 * (hi - lo)
                } else {
                    0.5 * lo.abs().max(1.0)
                };
                (lo - pad)..(hi + pad)
            }
        };
        Some((
            span(pts.iter().map(|p| p.0).collect(), self.log_x),
            span(pts.iter().map(|p| p.1).collect(), self.log_y),
        ))
    }

    fn render_to<DB: DrawingBackend>(
        &self,
        root: DrawingArea<DB, plotters::coord::Shift>,
        target: &Path,
    ) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        register_fonts();
        let fail = |e: &dyn std::fmt::Display| Error::Output {
            target: target.display().to_string(),
            message: e.to_string(),
        };
        let (xr, yr) = self
            .ranges()
            .ok_or_else(|| fail(&"the chart has no finite point"))?;
        match (self.log_x, self.log_y) {
            (false, false) => self.draw(root, xr, yr),
            (true, false) => self.draw(root, xr.log_scale(), yr),
            (false, true) => self.draw(root, xr, yr.log_scale()),
            (true, true) => self.draw(root, xr.log_scale(), yr.log_scale()),
        }
        .map_err(|e| fail(&e))
    }

    fn draw<DB, X, Y>(
        &self,
        root: DrawingArea<DB, plotters::coord::Shift>,
        x: impl plotters::coord::ranged1d::AsRangedCoord<CoordDescType = X, Value = f64>,
        y: impl plotters::coord::ranged1d::AsRangedCoord<CoordDescType = Y, Value = f64>,
    ) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>>
    where
        DB: DrawingBackend,
        X: Ranged<ValueType = f64> + ValueFormatter<f64>,
        Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
    {
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(&self.title, ("sans-serif", 24))
            .margin(18)
            .x_label_area_size(50)
            .y_label_area_size(80)
            .build_cartesian_2d(x, y)?;
        chart
            .configure_mesh()
            .x_desc(&self.x_label)
            .y_desc(&self.y_label)
            .x_label_formatter(&|v| tick_label(*v))
            .y_label_formatter(&|v| tick_label(*v))
            .label_style(("sans-serif", 15))
            .axis_desc_style(("sans-serif", 17))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()?;
        let color_of = |k: usize, s: &Series| PALETTE[s.color.unwrap_or(k) % PALETTE.len()];
        // Bands first, so lines stay visible above them.
        for (k, s) in self.series.iter().enumerate() {
            if let SeriesKind::Band(band) = &s.kind {
                let c = color_of(k, s);
                let fill = c.mix(0.25).filled();
                // One polygon per run of finite entries: a NaN entry breaks the band, so a
                // band can shade several separate intervals (such as where dominance fails).
                let runs: Vec<Vec<(f64, f64, f64)>> = band
                    .split(|b| !(b.0.is_finite() && b.1.is_finite() && b.2.is_finite()))
                    .filter(|r| r.len() >= 2)
                    .map(<[_]>::to_vec)
                    .collect();
                chart
                    .draw_series(runs.into_iter().map(|run| {
                        let upper = run.iter().map(|b| (b.0, b.2));
                        let lower = run.iter().rev().map(|b| (b.0, b.1));
                        Polygon::new(upper.chain(lower).collect::<Vec<_>>(), fill)
                    }))?
                    .label(&s.name)
                    .legend(move |(x, y)| {
                        Rectangle::new([(x, y - 6), (x + 20, y + 6)], c.mix(0.25).filled())
                    });
            }
        }
        for (k, s) in self.series.iter().enumerate() {
            let c = color_of(k, s);
            let pts: Vec<(f64, f64)> = s
                .points
                .iter()
                .copied()
                .filter(|p| p.0.is_finite() && p.1.is_finite())
                .collect();
            match &s.kind {
                SeriesKind::Band(_) => {}
                SeriesKind::Line => {
                    chart
                        .draw_series(LineSeries::new(pts, c.stroke_width(2)))?
                        .label(&s.name)
                        .legend(move |(x, y)| {
                            PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2))
                        });
                }
                SeriesKind::Dashed => {
                    chart
                        .draw_series(DashedLineSeries::new(pts, 8, 5, c.stroke_width(2)))?
                        .label(&s.name)
                        .legend(move |(x, y)| {
                            PathElement::new(vec![(x, y), (x + 8, y)], c.stroke_width(2))
                        });
                }
                SeriesKind::Points => {
                    chart
                        .draw_series(pts.into_iter().map(|p| Circle::new(p, 4, c.filled())))?
                        .label(&s.name)
                        .legend(move |(x, y)| Circle::new((x + 10, y), 4, c.filled()));
                }
                SeriesKind::ErrorBars(bars) => {
                    chart.draw_series(
                        bars.iter()
                            .filter(|b| b.2.is_finite() && b.3.is_finite())
                            .map(|b| {
                                ErrorBar::new_vertical(b.0, b.2, b.1, b.3, c.stroke_width(2), 8)
                            }),
                    )?;
                    chart
                        .draw_series(pts.into_iter().map(|p| Circle::new(p, 4, c.filled())))?
                        .label(&s.name)
                        .legend(move |(x, y)| Circle::new((x + 10, y), 4, c.filled()));
                }
            }
        }
        if self.series.iter().any(|s| !s.name.is_empty()) {
            chart
                .configure_series_labels()
                .label_font(("sans-serif", 15))
                .background_style(WHITE.mix(0.85))
                .border_style(RGBColor(160, 160, 160))
                .position(if self.legend_left {
                    SeriesLabelPosition::UpperLeft
                } else {
                    SeriesLabelPosition::UpperRight
                })
                .draw()?;
        }
        root.present()?;
        Ok(())
    }
}

//! SVG charts of the medians files: one chart per benchmark, drawn with `plotters`' SVG
//! backend, whose text is left to the viewer's fonts.
//!
//! A chart has a panel per unit (and direction: lower or higher is better), one under the
//! other; threads' chart, for example, has one for times in ns and one for memory in KiB. In a
//! panel, each row of the benchmark is a group of bars, one per competitor, each the median
//! with a whisker from the smallest to the largest sample and the median written above it. A
//! panel whose values span more than [`LOG_SPAN`] times has a logarithmic axis (std::thread's
//! spawn costs a hundred times green's); others start at zero.

use std::io;
use std::path::{Path, PathBuf};

use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::medians::{self, Better, Median};

/// A panel whose largest value is more than this many times its smallest gets a logarithmic
/// axis.
pub const LOG_SPAN: f64 = 20.0;

const FONT: &str = "sans-serif";
const HEADER: u32 = 78;
const PANEL: u32 = 360;
const BAR: u32 = 30;
const GAP: u32 = 44;
const SIDES: u32 = 120;

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// The rows of one unit in a chart.
struct Panel<'m> {
    unit: &'m str,
    better: Better,
    rows: Vec<&'m str>,
    medians: Vec<&'m Median>,
}

impl Panel<'_> {
    fn of(&self, row: &str, competitor: &str) -> Option<&Median> {
        self.medians
            .iter()
            .copied()
            .find(|m| m.row == row && m.competitor == competitor)
    }
}

/// The SVG chart of `benchmark`'s medians (see the module's documentation).
pub fn render(benchmark: &str, medians: &[Median]) -> io::Result<String> {
    let competitors = competitors(medians);
    let panels = panels(medians);
    let widest = panels.iter().map(|p| p.rows.len()).max().unwrap_or(1) as u32;
    let per_row = competitors.len().max(1) as u32 * BAR + GAP;
    let size = (
        (SIDES + widest * per_row).max(640),
        HEADER + panels.len().max(1) as u32 * PANEL,
    );
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(plotting)?;
        let (header, body) = root.split_vertically(HEADER);
        draw_header(&header, benchmark, &competitors, medians)?;
        for (panel, area) in panels
            .iter()
            .zip(body.split_evenly((panels.len().max(1), 1)))
        {
            let values = panel.medians.iter().flat_map(|m| [m.median, m.min, m.max]);
            let (lo, hi) = values
                .filter(|v| v.is_finite())
                .fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
                    (lo.min(v), hi.max(v))
                });
            if lo > 0.0 && hi / lo > LOG_SPAN {
                let base = 10f64.powf(lo.log10().floor());
                let y = (base..hi * 4.0).log_scale();
                draw_panel(&root, &area, panel, &competitors, y, base)?;
            } else {
                let top = if hi > 0.0 { hi * 1.2 } else { 1.0 };
                draw_panel(&root, &area, panel, &competitors, 0.0..top, 0.0)?;
            }
        }
        root.present().map_err(plotting)?;
    }
    Ok(svg)
}

/// Renders every medians file in `input` (see [`medians::read_dir`]) to `<output>/<benchmark>.svg`,
/// creating `output` if needed; returns the paths written, by name.
pub fn render_dir(input: &Path, output: &Path) -> io::Result<Vec<PathBuf>> {
    let files = medians::read_dir(input)?;
    if files.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "{}: no medians files (*.{}); run the benchmarks first",
                input.display(),
                medians::EXTENSION
            ),
        ));
    }
    std::fs::create_dir_all(output)?;
    let mut written = Vec::new();
    for (benchmark, medians) in files {
        let path = output.join(format!("{benchmark}.svg"));
        std::fs::write(&path, render(&benchmark, &medians)?)?;
        written.push(path);
    }
    Ok(written)
}

/// The competitors, green first, then in the order they first appear.
fn competitors(medians: &[Median]) -> Vec<&str> {
    let mut names: Vec<&str> = Vec::new();
    for m in medians {
        if !names.contains(&m.competitor.as_str()) {
            names.push(&m.competitor);
        }
    }
    names.sort_by_key(|&n| n != "green");
    names
}

/// A panel per (unit, direction), in the order they first appear; its rows in the order they
/// first appear.
fn panels(medians: &[Median]) -> Vec<Panel<'_>> {
    let mut panels: Vec<Panel<'_>> = Vec::new();
    for m in medians {
        let i = match panels
            .iter()
            .position(|p| p.unit == m.unit && p.better == m.better)
        {
            Some(i) => i,
            None => {
                panels.push(Panel {
                    unit: &m.unit,
                    better: m.better,
                    rows: Vec::new(),
                    medians: Vec::new(),
                });
                panels.len() - 1
            }
        };
        let p = &mut panels[i];
        if !p.rows.contains(&m.row.as_str()) {
            p.rows.push(&m.row);
        }
        p.medians.push(m);
    }
    panels
}

/// The colour of a competitor: fixed for the known ones.
fn colour(name: &str, index: usize) -> RGBColor {
    const OTHERS: [RGBColor; 4] = [
        RGBColor(214, 39, 40),
        RGBColor(23, 190, 207),
        RGBColor(188, 189, 34),
        RGBColor(140, 86, 75),
    ];
    match name {
        "green" => RGBColor(44, 160, 44),
        "green-os" => RGBColor(152, 223, 138),
        "may" => RGBColor(255, 127, 14),
        "tokio" => RGBColor(31, 119, 180),
        "std" | "threads" => RGBColor(127, 127, 127),
        "futures" => RGBColor(148, 103, 189),
        _ => OTHERS[index % OTHERS.len()],
    }
}

/// A measurement in three significant figures or so: `31.2`, `312`, `1.2k`, `41k`, `1.5M`.
pub fn compact(v: f64) -> String {
    let a = v.abs();
    if a >= 1e7 {
        format!("{:.0}M", v / 1e6)
    } else if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 100.0 || a == 0.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// A ratio to green's median: `0.91x`, `3.8x`, `128x`.
fn ratio_text(r: f64) -> String {
    if r >= 100.0 {
        format!("{r:.0}x")
    } else if r >= 2.0 {
        format!("{r:.1}x")
    } else {
        format!("{r:.2}x")
    }
}

/// An axis label: [`compact`] without trailing zeros (`1k`, `2.5`).
fn tick(v: f64) -> String {
    let s = compact(v);
    let (number, suffix) = s.split_at(s.trim_end_matches(['k', 'M']).len());
    if number.contains('.') {
        format!(
            "{}{suffix}",
            number.trim_end_matches('0').trim_end_matches('.')
        )
    } else {
        s
    }
}

/// A row's label in lines of about 18 characters, broken after its commas.
fn label_lines(label: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for part in label.split(", ") {
        match lines.last_mut() {
            Some(line) if line.len() + 2 + part.len() <= 18 => {
                line.push_str(", ");
                line.push_str(part);
            }
            _ => lines.push(part.to_owned()),
        }
    }
    lines
}

fn plotting(e: impl std::error::Error) -> io::Error {
    io::Error::other(format!("drawing the chart: {e}"))
}

/// The title, what a bar shows and the legend.
fn draw_header(
    area: &Area<'_>,
    benchmark: &str,
    competitors: &[&str],
    medians: &[Median],
) -> io::Result<()> {
    let title = format!("{benchmark}: {}", competitors.join(" vs "));
    area.draw(&Text::new(title, (14, 10), (FONT, 22).into_font()))
        .map_err(plotting)?;
    let fewest = medians.iter().map(|m| m.samples).min().unwrap_or(0);
    let most = medians.iter().map(|m| m.samples).max().unwrap_or(0);
    let samples = if fewest == most {
        format!("{most}")
    } else {
        format!("{fewest}-{most}")
    };
    let note = format!(
        "bar: median of {samples} samples, written above it with its ratio to green's; \
         whisker: smallest to largest sample"
    );
    let grey = RGBColor(90, 90, 90);
    area.draw(&Text::new(
        note,
        (14, 36),
        (FONT, 13).into_font().color(&grey),
    ))
    .map_err(plotting)?;
    let mut x = 14;
    for (i, name) in competitors.iter().enumerate() {
        let square = Rectangle::new([(x, 56), (x + 14, 70)], colour(name, i).filled());
        area.draw(&square).map_err(plotting)?;
        area.draw(&Text::new(*name, (x + 20, 56), (FONT, 14).into_font()))
            .map_err(plotting)?;
        x += 20 + 8 * name.len() as i32 + 24;
    }
    Ok(())
}

/// One panel on `area`, its axis `y` starting at `base`; row labels are drawn on `root`.
fn draw_panel<Y>(
    root: &Area<'_>,
    area: &Area<'_>,
    panel: &Panel<'_>,
    competitors: &[&str],
    y: Y,
    base: f64,
) -> io::Result<()>
where
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let caption = match panel.better {
        Better::Lower => "lower is better",
        Better::Higher => "higher is better",
    };
    let caption = if panel.unit.is_empty() {
        caption.to_owned()
    } else {
        format!("{}: {caption}", panel.unit)
    };
    let rows = panel.rows.len().max(1);
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FONT, 16).into_font())
        .margin(10)
        .margin_right(20)
        .x_label_area_size(56)
        .y_label_area_size(80)
        .build_cartesian_2d(0.0..rows as f64, y)
        .map_err(plotting)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_desc(panel.unit)
        .y_label_formatter(&|v| tick(*v))
        .light_line_style(RGBColor(242, 242, 242))
        .axis_desc_style((FONT, 14))
        .label_style((FONT, 12))
        .draw()
        .map_err(plotting)?;

    let width = 0.8 / competitors.len().max(1) as f64;
    let above = |size, colour: &RGBColor| {
        (FONT, size)
            .into_font()
            .color(colour)
            .pos(Pos::new(HPos::Center, VPos::Bottom))
    };
    let (value_style, ratio_style) = (above(11, &BLACK), above(10, &RGBColor(90, 90, 90)));
    for (i, row) in panel.rows.iter().enumerate() {
        let present: Vec<(usize, &Median)> = competitors
            .iter()
            .enumerate()
            .filter_map(|(k, c)| Some((k, panel.of(row, c)?)))
            .collect();
        let start = i as f64 + 0.5 - width * present.len() as f64 / 2.0;
        for (j, &(k, m)) in present.iter().enumerate() {
            let x = start + j as f64 * width;
            let mid = x + width * 0.45;
            let bar = Rectangle::new(
                [(x, base), (x + width * 0.9, m.median)],
                colour(competitors[k], k).filled(),
            );
            let whisker = PathElement::new(vec![(mid, m.min), (mid, m.max)], BLACK.stroke_width(1));
            chart.plotting_area().draw(&bar).map_err(plotting)?;
            chart.plotting_area().draw(&whisker).map_err(plotting)?;
            // The median above the whisker, and above that its ratio to green's.
            let (px, py) = chart.backend_coord(&(mid, m.max));
            let value = Text::new(compact(m.median), (px, py - 2), value_style.clone());
            root.draw(&value).map_err(plotting)?;
            if let Some(r) = m.ratio.filter(|_| m.competitor != "green") {
                let ratio = Text::new(ratio_text(r), (px, py - 15), ratio_style.clone());
                root.draw(&ratio).map_err(plotting)?;
            }
        }
        let (px, py) = chart.backend_coord(&(i as f64 + 0.5, base));
        let label_style = (FONT, 13)
            .into_font()
            .into_text_style(root)
            .pos(Pos::new(HPos::Center, VPos::Top));
        for (n, line) in label_lines(row).into_iter().enumerate() {
            let at = (px, py + 8 + 16 * n as i32);
            root.draw(&Text::new(line, at, label_style.clone()))
                .map_err(plotting)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_numbers() {
        let shown: Vec<String> = [3.25, 31.2, 312.4, 1234.0, 41_200.0, 1_530_000.0, 0.0]
            .map(compact)
            .to_vec();
        assert_eq!(shown, ["3.25", "31.2", "312", "1.2k", "41k", "1.5M", "0"]);
    }

    #[test]
    fn ratios() {
        let shown: Vec<String> = [0.913, 1.0, 3.8003, 12.34, 128.2].map(ratio_text).to_vec();
        assert_eq!(shown, ["0.91x", "1.00x", "3.8x", "12.3x", "128x"]);
    }

    #[test]
    fn ticks_drop_trailing_zeros() {
        let shown: Vec<String> = [1.0, 2.5, 1000.0, 1500.0, 20_000.0, 0.0].map(tick).to_vec();
        assert_eq!(shown, ["1", "2.5", "1k", "1.5k", "20k", "0"]);
    }

    #[test]
    fn labels_break_after_commas() {
        assert_eq!(
            label_lines("mutex, 1,000 threads, 2 workers"),
            ["mutex", "1,000 threads", "2 workers"]
        );
        assert_eq!(
            label_lines("spawn+join, 1 worker"),
            ["spawn+join", "1 worker"]
        );
        assert_eq!(label_lines("ready, 1 worker"), ["ready, 1 worker"]);
        assert_eq!(label_lines("ready future"), ["ready future"]);
    }
}

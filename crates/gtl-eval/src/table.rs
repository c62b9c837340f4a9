//! Result tables: CSV for machines (full precision), Markdown for the report.

use std::path::Path;

use crate::EvalError;

/// One value of a [`Table`].
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    /// Text, written as is.
    Text(String),
    /// A count.
    Int(i64),
    /// A measurement; non-finite values are written as "inf", "-inf" or "nan".
    Float(f64),
    /// No value (empty in CSV, "–" in Markdown).
    Missing,
}

impl From<&str> for Cell {
    fn from(v: &str) -> Self {
        Cell::Text(v.to_string())
    }
}

impl From<String> for Cell {
    fn from(v: String) -> Self {
        Cell::Text(v)
    }
}

impl From<f64> for Cell {
    fn from(v: f64) -> Self {
        Cell::Float(v)
    }
}

impl From<usize> for Cell {
    fn from(v: usize) -> Self {
        Cell::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}

impl<T: Into<Cell>> From<Option<T>> for Cell {
    fn from(v: Option<T>) -> Self {
        v.map_or(Cell::Missing, Into::into)
    }
}

impl Cell {
    fn csv(&self) -> String {
        match self {
            Cell::Text(s) => s.clone(),
            Cell::Int(v) => v.to_string(),
            Cell::Float(v) => v.to_string(),
            Cell::Missing => String::new(),
        }
    }

    /// The cell in Markdown, floats with `digits` significant decimals.
    fn markdown(&self, digits: usize) -> String {
        match self {
            Cell::Text(s) => s.replace('|', "\\|"),
            Cell::Int(v) => v.to_string(),
            Cell::Float(v) if !v.is_finite() => v.to_string(),
            Cell::Float(v) if *v != 0.0 && (v.abs() >= 1e5 || v.abs() < 1e-3) => {
                format!("{v:.2e}")
            }
            Cell::Float(v) => format!("{v:.digits$}"),
            Cell::Missing => "–".into(),
        }
    }
}

/// A table with named columns.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Table {
    /// Column names.
    pub columns: Vec<String>,
    /// Rows, each as long as `columns`.
    pub rows: Vec<Vec<Cell>>,
}

impl Table {
    /// An empty table with these columns.
    pub fn new<S: Into<String>>(columns: impl IntoIterator<Item = S>) -> Self {
        Table {
            columns: columns.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row. Panics unless it has one cell per column.
    pub fn push(&mut self, row: impl IntoIterator<Item = Cell>) {
        let row: Vec<Cell> = row.into_iter().collect();
        assert_eq!(
            row.len(),
            self.columns.len(),
            "a row needs one cell per column ({:?})",
            self.columns
        );
        self.rows.push(row);
    }

    /// The CSV text (header line, then one line per row).
    pub fn to_csv(&self) -> Result<String, EvalError> {
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.write_record(&self.columns)?;
        for row in &self.rows {
            writer.write_record(row.iter().map(Cell::csv))?;
        }
        let bytes = writer
            .into_inner()
            .map_err(|e| EvalError::Input(e.to_string()))?;
        String::from_utf8(bytes).map_err(|e| EvalError::Input(e.to_string()))
    }

    /// Writes the CSV to `path` through a temporary file renamed into place.
    pub fn write_csv(&self, path: &Path) -> Result<(), EvalError> {
        let io = |source| EvalError::Io {
            path: path.to_path_buf(),
            source,
        };
        let temporary = path.with_extension("csv.partial");
        std::fs::write(&temporary, self.to_csv()?).map_err(io)?;
        std::fs::rename(&temporary, path).map_err(io)
    }

    /// A GitHub-flavoured Markdown table, floats with `digits` decimals.
    pub fn to_markdown(&self, digits: usize) -> String {
        let line = |cells: Vec<String>| format!("| {} |\n", cells.join(" | "));
        let mut text = line(self.columns.clone());
        text.push_str(&line(self.columns.iter().map(|_| "---".into()).collect()));
        for row in &self.rows {
            text.push_str(&line(row.iter().map(|c| c.markdown(digits)).collect()));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_and_markdown_render_every_kind_of_cell() {
        let mut table = Table::new(["method", "n", "error", "tv"]);
        table.push([
            "gtl, learned".into(),
            20usize.into(),
            0.123456.into(),
            None::<f64>.into(),
        ]);
        table.push([
            "a|b".into(),
            5usize.into(),
            f64::INFINITY.into(),
            1e-6.into(),
        ]);
        assert_eq!(
            table.to_csv().unwrap(),
            "method,n,error,tv\n\"gtl, learned\",20,0.123456,\na|b,5,inf,0.000001\n"
        );
        let md = table.to_markdown(3);
        assert!(md.contains("| gtl, learned | 20 | 0.123 | – |"), "{md}");
        assert!(md.contains("| a\\|b | 5 | inf | 1.00e-6 |"), "{md}");
        assert_eq!(md.lines().nth(1), Some("| --- | --- | --- | --- |"));
    }
}

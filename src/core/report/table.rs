//! The plain-text tables of the reports: columns separated by two spaces, padded to the
//! widest cell, a dashed line under the headers, no trailing spaces.

/// A table of `rows` under `headers`; the columns in `right` right-aligned.
pub fn aligned(headers: &[&str], right: &[usize], rows: &[Vec<String>]) -> String {
    let width = |i: usize| {
        rows.iter()
            .map(|r| r[i].chars().count())
            .chain([headers[i].chars().count()])
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..headers.len()).map(width).collect();
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let pad = widths[i].saturating_sub(c.chars().count());
                if right.contains(&i) {
                    format!("{}{c}", " ".repeat(pad))
                } else {
                    format!("{c}{}", " ".repeat(pad))
                }
            })
            .collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut out = line(headers.to_vec());
    let dashes: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    out.push_str(&line(dashes.iter().map(String::as_str).collect()));
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_padded_and_the_right_ones_right_aligned() {
        let rows = vec![
            vec!["a".to_string(), "1".to_string()],
            vec!["bcd".to_string(), "22".to_string()],
        ];
        assert_eq!(
            aligned(&["NAME", "N"], &[1], &rows),
            "NAME   N\n----  --\na      1\nbcd   22\n"
        );
    }
}

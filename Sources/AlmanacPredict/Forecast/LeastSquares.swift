/// Ridge-regularised linear least squares via the normal equations and a Cholesky factorisation.
/// Small and dense: meant for a few dozen coefficients.
public enum LeastSquares {
    public enum Failure: Error, Equatable { case dimensionMismatch, notPositiveDefinite }

    /// Solves min ||X b - y||^2 + ridge ||b||^2 with `rows` given as feature vectors of equal length.
    public static func solve(rows: [[Double]], targets: [Double], ridge: Double = 1e-6) throws -> [Double] {
        guard let p = rows.first?.count, rows.count == targets.count, p > 0 else { throw Failure.dimensionMismatch }
        var a = Array(repeating: 0.0, count: p * p)
        var b = Array(repeating: 0.0, count: p)
        for (r, row) in rows.enumerated() {
            guard row.count == p else { throw Failure.dimensionMismatch }
            let t = targets[r]
            for i in 0..<p {
                let ri = row[i]
                if ri == 0 { continue }
                b[i] += ri * t
                for j in 0...i { a[i * p + j] += ri * row[j] }
            }
        }
        for i in 0..<p { for j in 0..<i { a[j * p + i] = a[i * p + j] } ; a[i * p + i] += ridge }
        return try choleskySolve(a, b, n: p)
    }

    /// Solves A x = b for symmetric positive definite A (row-major n*n).
    public static func choleskySolve(_ a: [Double], _ b: [Double], n: Int) throws -> [Double] {
        guard a.count == n * n, b.count == n else { throw Failure.dimensionMismatch }
        var l = Array(repeating: 0.0, count: n * n)
        for i in 0..<n {
            for j in 0...i {
                var s = a[i * n + j]
                for k in 0..<j { s -= l[i * n + k] * l[j * n + k] }
                if i == j {
                    guard s > 0, s.isFinite else { throw Failure.notPositiveDefinite }
                    l[i * n + i] = s.squareRoot()
                } else {
                    l[i * n + j] = s / l[j * n + j]
                }
            }
        }
        var z = Array(repeating: 0.0, count: n)
        for i in 0..<n {
            var s = b[i]
            for k in 0..<i { s -= l[i * n + k] * z[k] }
            z[i] = s / l[i * n + i]
        }
        var x = Array(repeating: 0.0, count: n)
        for i in stride(from: n - 1, through: 0, by: -1) {
            var s = z[i]
            for k in (i + 1)..<n { s -= l[k * n + i] * x[k] }
            x[i] = s / l[i * n + i]
        }
        return x
    }
}

package hostile

import "testing"

// Every line fits its size and, but for "over", its value budget; "over"
// is far over it.
func TestLine_FitsSizeAndBudget(t *testing.T) {
	for _, size := range []int{64 << 10, 1 << 20} {
		for _, format := range Formats {
			for _, shape := range Shapes {
				l := Line(format, shape, size, size/64)
				over := Values(l) > size/64
				if len(l) > size || len(l) < size*3/4 || over != (shape == "over") {
					t.Errorf("%s %s at %d bytes: %d bytes, %d values", format, shape, size, len(l), Values(l))
				}
			}
		}
	}
}

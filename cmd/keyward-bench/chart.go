package main

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"os"
	"strings"
)

// The chart: one group of horizontal bars per workload, each module after the first and the Go limit as its
// speed relative to the first module, on a log scale around 1x (right of the line: faster than the first module).
// Drawn with the standard library and the 5x7 bitmap font below (upper case; lower case is drawn as upper case).

var font5x7 = map[rune][7]string{
	'A': {".###.", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"},
	'B': {"####.", "#...#", "#...#", "####.", "#...#", "#...#", "####."},
	'C': {".###.", "#...#", "#....", "#....", "#....", "#...#", ".###."},
	'D': {"####.", "#...#", "#...#", "#...#", "#...#", "#...#", "####."},
	'E': {"#####", "#....", "#....", "####.", "#....", "#....", "#####"},
	'F': {"#####", "#....", "#....", "####.", "#....", "#....", "#...."},
	'G': {".###.", "#...#", "#....", "#.###", "#...#", "#...#", ".####"},
	'H': {"#...#", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"},
	'I': {".###.", "..#..", "..#..", "..#..", "..#..", "..#..", ".###."},
	'J': {"..###", "...#.", "...#.", "...#.", "...#.", "#..#.", ".##.."},
	'K': {"#...#", "#..#.", "#.#..", "##...", "#.#..", "#..#.", "#...#"},
	'L': {"#....", "#....", "#....", "#....", "#....", "#....", "#####"},
	'M': {"#...#", "##.##", "#.#.#", "#.#.#", "#...#", "#...#", "#...#"},
	'N': {"#...#", "#...#", "##..#", "#.#.#", "#..##", "#...#", "#...#"},
	'O': {".###.", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."},
	'P': {"####.", "#...#", "#...#", "####.", "#....", "#....", "#...."},
	'Q': {".###.", "#...#", "#...#", "#...#", "#.#.#", "#..#.", ".##.#"},
	'R': {"####.", "#...#", "#...#", "####.", "#.#..", "#..#.", "#...#"},
	'S': {".####", "#....", "#....", ".###.", "....#", "....#", "####."},
	'T': {"#####", "..#..", "..#..", "..#..", "..#..", "..#..", "..#.."},
	'U': {"#...#", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."},
	'V': {"#...#", "#...#", "#...#", "#...#", "#...#", ".#.#.", "..#.."},
	'W': {"#...#", "#...#", "#...#", "#.#.#", "#.#.#", "#.#.#", ".#.#."},
	'X': {"#...#", "#...#", ".#.#.", "..#..", ".#.#.", "#...#", "#...#"},
	'Y': {"#...#", "#...#", ".#.#.", "..#..", "..#..", "..#..", "..#.."},
	'Z': {"#####", "....#", "...#.", "..#..", ".#...", "#....", "#####"},
	'0': {".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."},
	'1': {"..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."},
	'2': {".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"},
	'3': {"#####", "...#.", "..#..", "...#.", "....#", "#...#", ".###."},
	'4': {"...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."},
	'5': {"#####", "#....", "####.", "....#", "....#", "#...#", ".###."},
	'6': {"..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###."},
	'7': {"#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."},
	'8': {".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."},
	'9': {".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##.."},
	' ': {".....", ".....", ".....", ".....", ".....", ".....", "....."},
	'.': {".....", ".....", ".....", ".....", ".....", ".##..", ".##.."},
	',': {".....", ".....", ".....", ".....", ".##..", "..#..", ".#..."},
	'-': {".....", ".....", ".....", "#####", ".....", ".....", "....."},
	'_': {".....", ".....", ".....", ".....", ".....", ".....", "#####"},
	'/': {".....", "....#", "...#.", "..#..", ".#...", "#....", "....."},
	'(': {"...#.", "..#..", ".#...", ".#...", ".#...", "..#..", "...#."},
	')': {".#...", "..#..", "...#.", "...#.", "...#.", "..#..", ".#..."},
	':': {".....", ".##..", ".##..", ".....", ".##..", ".##..", "....."},
	'%': {"##...", "##..#", "...#.", "..#..", ".#...", "#..##", "...##"},
	'+': {".....", "..#..", "..#..", "#####", "..#..", "..#..", "....."},
	'=': {".....", ".....", "#####", ".....", "#####", ".....", "....."},
	'>': {".#...", "..#..", "...#.", "....#", "...#.", "..#..", ".#..."},
	'<': {"...#.", "..#..", ".#...", "#....", ".#...", "..#..", "...#."},
	'*': {".....", "..#..", "#.#.#", ".###.", "#.#.#", "..#..", "....."},
	'?': {".###.", "#...#", "....#", "...#.", "..#..", ".....", "..#.."},
}

type canvas struct {
	*image.RGBA
}

func (c canvas) rect(x0, y0, x1, y1 int, col color.Color) {
	draw.Draw(c.RGBA, image.Rect(x0, y0, x1, y1), &image.Uniform{col}, image.Point{}, draw.Src)
}

// text draws s at (x, y) (top left) at an integer scale; returns the width drawn.
func (c canvas) text(x, y, scale int, s string, col color.Color) int {
	s = strings.NewReplacer("→", ">", "µ", "U", "×", "X").Replace(s)
	cx := x
	for _, r := range strings.ToUpper(s) {
		g, ok := font5x7[r]
		if !ok {
			g = font5x7['?']
		}
		for gy, line := range g {
			for gx, p := range line {
				if p == '#' {
					c.rect(cx+gx*scale, y+gy*scale, cx+(gx+1)*scale, y+(gy+1)*scale, col)
				}
			}
		}
		cx += 6 * scale
	}
	return cx - x
}

func textWidth(s string, scale int) int { return len([]rune(s)) * 6 * scale }

var palette = []color.RGBA{
	{0x1f, 0x77, 0xb4, 0xff}, // blue
	{0xd6, 0x27, 0x28, 0xff}, // red
	{0x2c, 0xa0, 0x2c, 0xff}, // green
	{0x94, 0x67, 0xbd, 0xff}, // purple
	{0xff, 0x7f, 0x0e, 0xff}, // orange
}

var limitColor = color.RGBA{0x99, 0x99, 0x99, 0xff}

func (b *bench) writePNG(path string) error {
	type bar struct {
		ratio float64
		col   color.Color
	}
	type group struct {
		name string
		bars []bar
	}
	base := b.mods[0].label
	var groups []group
	lo, hi := 0.5, 2.0
	for _, r := range b.rows {
		bc := r.Values[base]
		bs, ok := speed(r, bc)
		if !ok {
			continue
		}
		g := group{name: r.Workload}
		add := func(c *cell, col color.Color) {
			s, ok := speed(r, c)
			if !ok {
				g.bars = append(g.bars, bar{0, col})
				return
			}
			x := s / bs
			lo, hi = math.Min(lo, x), math.Max(hi, x)
			g.bars = append(g.bars, bar{x, col})
		}
		for i, m := range b.mods[1:] {
			add(r.Values[m.label], palette[i%len(palette)])
		}
		if r.Limit != nil {
			add(r.Limit, limitColor)
		} else {
			g.bars = append(g.bars, bar{-1, limitColor}) // no limit for this workload: nothing drawn
		}
		groups = append(groups, g)
	}
	if len(groups) == 0 {
		return fmt.Errorf("chart: no workload measured on %s", base)
	}
	decLo := math.Floor(math.Log10(math.Max(lo, 1e-4)))
	decHi := math.Ceil(math.Log10(math.Min(hi, 1e5)))

	const scale = 2
	labelW := 0
	for _, g := range groups {
		labelW = max(labelW, textWidth(g.name, scale))
	}
	barH, gap := 14, 12
	groupH := len(groups[0].bars)*barH + gap
	left := 20 + labelW + 20
	plotW := 900
	top := 110
	width := left + plotW + 150
	height := top + len(groups)*groupH + 60
	c := canvas{image.NewRGBA(image.Rect(0, 0, width, height))}
	c.rect(0, 0, width, height, color.White)
	black := color.RGBA{0x20, 0x20, 0x20, 0xff}
	grid := color.RGBA{0xdd, 0xdd, 0xdd, 0xff}

	xOf := func(ratio float64) int {
		l := math.Log10(math.Min(math.Max(ratio, math.Pow(10, decLo)), math.Pow(10, decHi)))
		return left + int((l-decLo)/(decHi-decLo)*float64(plotW))
	}
	c.text(20, 16, 3, fmt.Sprintf("keyward-bench: speed relative to %s (log scale, right = faster)", base), black)
	// Legend.
	lx := 20
	for i, m := range b.mods[1:] {
		col := palette[i%len(palette)]
		c.rect(lx, 58, lx+24, 72, col)
		lx += 32 + c.text(lx+32, 58, scale, m.label, black) + 24
	}
	c.rect(lx, 58, lx+24, 72, limitColor)
	c.text(lx+32, 58, scale, "limit: go in-process (tls rows: key file)", black)
	// Grid and axis labels.
	for d := decLo; d <= decHi; d++ {
		x := xOf(math.Pow(10, d))
		c.rect(x, top-8, x+1, top+len(groups)*groupH, grid)
		lbl := fmtRatio(math.Pow(10, d))
		c.text(x-textWidth(lbl, scale)/2, top+len(groups)*groupH+10, scale, lbl, black)
		c.text(x-textWidth(lbl, scale)/2, top-30, scale, lbl, black)
	}
	one := xOf(1)
	for gi, g := range groups {
		y := top + gi*groupH
		if gi%2 == 1 {
			c.rect(0, y-gap/2, width, y+groupH-gap/2, color.RGBA{0xf4, 0xf4, 0xf4, 0xff})
			for d := decLo; d <= decHi; d++ {
				x := xOf(math.Pow(10, d))
				c.rect(x, y-gap/2, x+1, y+groupH-gap/2, grid)
			}
		}
		c.text(20+labelW-textWidth(g.name, scale), y+(len(g.bars)*barH-14)/2, scale, g.name, black)
		for bi, br := range g.bars {
			by := y + bi*barH
			if br.ratio < 0 {
				continue
			}
			if br.ratio == 0 {
				c.text(one+6, by+1, 1, "n/a", black)
				continue
			}
			x := xOf(br.ratio)
			x0, x1 := min(one, x), max(one, x)
			if x1-x0 < 2 {
				x1 = x0 + 2
			}
			c.rect(x0, by+1, x1, by+barH-1, br.col)
			lbl := fmtRatio(br.ratio)
			c.text(x1+6, by+1, 1, lbl, black)
		}
	}
	c.rect(one, top-8, one+2, top+len(groups)*groupH, black)
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, c.RGBA); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func fmtRatio(r float64) string {
	switch {
	case r >= 100:
		return fmt.Sprintf("%.0fx", r)
	case r >= 10:
		return fmt.Sprintf("%.1fx", r)
	case r >= 0.1:
		return fmt.Sprintf("%.2fx", r)
	default:
		return fmt.Sprintf("%.3gx", r)
	}
}

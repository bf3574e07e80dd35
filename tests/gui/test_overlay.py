import numpy as np

from pseudoclick_gui.gui.overlay import error_heatmap


def test_error_heatmap_colours_and_opacity():
    fp = np.array([[0.0, 0.6, 0.1, 0.2]], np.float32)
    fn = np.array([[0.0, 0.1, 0.6, 0.5]], np.float32)
    out = error_heatmap(fp, fn)
    assert out[0, 0, 3] == 0  # no error: transparent
    assert tuple(out[0, 1, :3]) == (255, 0, 0)  # FP wins: red
    assert tuple(out[0, 2, :3]) == (0, 0, 255)  # FN wins: blue
    assert out[0, 1, 3] > out[0, 3, 3] > 100  # more probable errors are more opaque, and 0.5 is clearly visible


def test_instances_of_one_category_get_distinct_shades_of_its_colour():
    from pseudoclick_gui.gui.overlay import instance_color, rgb_of

    shades = {instance_color("#e6194b", i) for i in range(1, 9)}
    assert len(shades) == 8
    base = np.array(rgb_of("#e6194b"), float)
    for c in shades:  # still recognisably the category's red
        assert np.abs(np.array(rgb_of(c), float) - base).max() < 140

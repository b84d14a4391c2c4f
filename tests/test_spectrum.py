import numpy as np
import pytest

from napari_dsp.evaluation.figures import draw_spectrum, slic_figure, spectrum_figure, window_figure
from napari_dsp.spectrum import compare_spectra, low_pass, radial_power_spectrum


def noisy_disc(size=48, noise=0.25, seed=0):
    """A bright disc on a dark background, clean and with pixel noise, as (H, W, 3) float."""
    y, x = np.mgrid[:size, :size]
    clean = ((y - size / 2) ** 2 + (x - size / 2) ** 2 < (size / 4) ** 2).astype(float)
    clean = np.repeat(clean[..., np.newaxis], 3, axis=-1) * 0.6 + 0.2
    noisy = clean + np.random.default_rng(seed).normal(0, noise, (size, size, 1))
    return noisy, clean


def test_low_pass_keeps_a_slow_wave_and_removes_a_fast_one():
    x = np.arange(64)
    slow = np.sin(2 * np.pi * x / 32)[np.newaxis].repeat(16, 0)
    fast = np.sin(2 * np.pi * x / 4)[np.newaxis].repeat(16, 0)
    np.testing.assert_allclose(low_pass(slow + fast + 3.0, keep=0.1), slow + 3.0, atol=1e-9)


@pytest.mark.parametrize("channel_axis", [0, -1, None])
def test_low_pass_keeps_shape_layout_and_input(channel_axis):
    rng = np.random.default_rng(1)
    shape = {0: (3, 20, 24), -1: (20, 24, 3), None: (20, 24)}[channel_axis]
    image = rng.integers(0, 255, size=shape).astype(np.uint8)
    before = image.copy()
    filtered = low_pass(image, channel_axis=channel_axis)
    assert filtered.shape == image.shape and filtered.dtype == np.float32
    # The mean brightness is the zero frequency, always kept.
    assert filtered.mean() == pytest.approx(image.mean(), rel=1e-5)
    np.testing.assert_array_equal(image, before)


def test_radial_spectrum_finds_the_frequency_of_a_pattern_at_any_orientation():
    y, x = np.mgrid[:64, :64]
    for angle in (0.0, np.pi / 2):
        wave = np.sin(2 * np.pi * (x * np.cos(angle) + y * np.sin(angle)) / 16)
        frequencies, power = radial_power_spectrum(wave)
        assert frequencies[np.argmax(power)] == pytest.approx(1 / 16)
    assert len(frequencies) == 32


def test_clean_edges_keep_high_frequencies_that_a_low_pass_drops():
    noisy, clean = noisy_disc()
    result = compare_spectra(noisy, clean, channel_axis=-1)
    assert set(result.curves) == {"image", "prior", "low-pass"}
    assert result.retained("low-pass") < 1e-9
    # The clean disc (a stand-in for a good prior) drops the noise but keeps
    # the edge, whose energy reaches far above the low-pass cut-off.
    assert 0.01 < result.retained("prior") < 0.9
    assert result.low_passed.shape == noisy.shape


def test_invalid_arguments_are_explained():
    with pytest.raises(ValueError, match="keep"):
        low_pass(np.zeros((8, 8)), keep=0)
    with pytest.raises(ValueError, match="prior has shape"):
        compare_spectra(np.zeros((8, 8)), np.zeros((8, 9)))
    with pytest.raises(ValueError, match="channel_axis"):
        radial_power_spectrum(np.zeros((8, 8, 3)))


def test_spectrum_figure_draws_into_a_given_figure(tmp_path):
    from matplotlib.figure import Figure

    noisy, clean = noisy_disc(32)
    figure = Figure()
    assert spectrum_figure(noisy, clean, channel_axis=-1, figure=figure) is figure
    assert len(figure.axes) == 4
    legend = [text.get_text() for text in figure.axes[-1].get_legend().get_texts()]
    assert legend[0] == "image" and legend[1].startswith("prior (keeps")
    figure.savefig(tmp_path / "spectrum.png")
    assert (tmp_path / "spectrum.png").stat().st_size > 0
    # Redrawing replaces the content instead of stacking axes.
    spectrum_figure(noisy, None, channel_axis=-1, figure=figure)
    assert len(figure.axes) == 3
    draw_spectrum(figure.axes[-1], compare_spectra(noisy, channel_axis=-1))


def test_window_figure_shows_the_prior_is_less_window_sensitive():
    noisy, clean = noisy_disc(40, noise=0.35)
    figure = window_figure(noisy, clean, windows=(1, 5), channel_axis=-1, seed=0)
    titles = [ax.get_title() for ax in figure.axes]
    vi = [float(t.rsplit(":", 1)[1]) for t in titles if "VI" in t]
    image_change, prior_change = vi
    assert prior_change < image_change


def test_slic_figure_on_a_clean_prior_has_more_regular_boundaries():
    noisy, clean = noisy_disc(40, noise=0.35)
    figure = slic_figure(noisy, clean, n_segments=30, channel_axis=-1)
    titles = [ax.get_title() for ax in figure.axes if "SLIC" in ax.get_title()]
    irregularity = [float(t.rsplit(" ", 1)[1]) for t in titles]
    assert len(irregularity) == 2 and irregularity[1] < 0.85 * irregularity[0]
    with pytest.raises(ValueError, match="needs the prior"):
        slic_figure(noisy, None, channel_axis=-1)


@pytest.mark.parametrize("command", ["spectrum", "windows", "slic"])
def test_figure_commands_write_a_png(command, tmp_path):
    import imageio.v3 as iio
    import tifffile

    from napari_dsp.cli import main

    noisy, clean = noisy_disc(32)
    iio.imwrite(tmp_path / "image.png", np.clip(noisy * 255, 0, 255).astype(np.uint8))
    tifffile.imwrite(tmp_path / "prior.tif", (clean * 255).astype(np.float32))
    out = tmp_path / f"{command}.png"
    extra = ["--n-segments", "20"] if command == "slic" else []
    assert main([command, str(tmp_path / "image.png"), "--prior", str(tmp_path / "prior.tif"),
                 "--out", str(out), *extra]) == 0
    assert iio.imread(out).ndim == 3


def test_figure_command_computes_the_prior_when_none_is_given(tmp_path, capsys):
    import imageio.v3 as iio

    from napari_dsp.cli import main

    iio.imwrite(tmp_path / "image.png", (noisy_disc(24)[1] * 255).astype(np.uint8))
    out = tmp_path / "spectrum.png"
    assert main(["spectrum", str(tmp_path / "image.png"), "--iterations", "2", "--restarts", "1",
                 "--device", "cpu", "--out", str(out)]) == 0
    assert out.is_file() and "wrote" in capsys.readouterr().out
    assert main(["slic", str(tmp_path / "image.png"), "--prior", str(tmp_path / "missing.tif")]) == 1

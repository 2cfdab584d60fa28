"""minidiff.clip: InfoNCE by hand, the temperature, padding, the encoders, errors, the recipe."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from minidiff import clip, layers, text


@pytest.fixture(scope="module")
def tokenizer():
    return text.train_bpe(["a red star", "a blue circle", "grinning face", "a small green cross"], 30, 16)


@pytest.fixture()
def model(tokenizer):
    torch.manual_seed(0)
    return clip.CLIP(clip.config_for(tokenizer, "tiny", image_size=16), tokenizer).eval()


# ---- the loss ------------------------------------------------------------------------------------------


def test_clip_loss_is_the_mean_of_both_cross_entropies_by_hand():
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.0, 1.0, 3.0], [1.5, -0.5, 0.25]], dtype=torch.float64)
    rows = [-(logits[i, i] - torch.logsumexp(logits[i], 0)) for i in range(3)]  # image i picks caption i
    cols = [-(logits[i, i] - torch.logsumexp(logits[:, i], 0)) for i in range(3)]  # caption i picks image i
    want = (sum(rows) / 3 + sum(cols) / 3) / 2
    assert torch.allclose(clip.clip_loss(logits), want, atol=1e-12)
    one_sided = F.cross_entropy(logits, torch.arange(3))
    assert not torch.allclose(clip.clip_loss(logits), one_sided)  # the loss is symmetric, not one-sided


def test_aligned_embeddings_at_high_scale_give_near_zero_loss_and_random_ones_log_n():
    emb = torch.eye(8)  # 8 unit vectors, each orthogonal to the others: cosine 1 on the diagonal, 0 off it
    assert clip.clip_loss(100 * emb @ emb.T) < 1e-40 + 7 * math.exp(-100) * 1.01
    assert abs(clip.clip_loss(torch.zeros(8, 8)).item() - math.log(8)) < 1e-6  # no information: log N
    assert clip.clip_loss(emb @ emb.T) > 1.0  # the same alignment at scale 1 (temperature 1): a weak signal


def test_clip_loss_refuses_non_square_logits():
    with pytest.raises(ValueError, match="square"):
        clip.clip_loss(torch.zeros(3, 4))


# ---- the temperature -----------------------------------------------------------------------------------


def test_temperature_starts_at_clips_and_is_clamped_at_100(model):
    assert abs(model.scale().item() - 1 / 0.07) < 1e-4
    with torch.no_grad():
        model.logit_scale.fill_(10.0)
    assert abs(model.scale().item() - 100) < 1e-3
    assert model.logit_scale.requires_grad


def test_forward_is_scale_times_cosine_similarity_and_the_scale_gets_a_gradient(model, tokenizer):
    images = torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(1)) * 2 - 1
    tokens = tokenizer(["a red star", "a blue circle", "grinning face"])
    logits = model(images, tokens)
    cosine = F.cosine_similarity(
        model.image_proj(model.image(images))[:, None], model.text_proj(model.text(tokens)[1])[None], dim=-1
    )
    assert torch.allclose(logits, model.scale() * cosine, atol=1e-5)
    clip.clip_loss(logits).backward()
    assert model.logit_scale.grad is not None and model.logit_scale.grad != 0


def test_a_fixed_temperature_does_not_learn(tokenizer):
    fixed = clip.CLIP(clip.config_for(tokenizer, "tiny", learn_temperature=False, temperature=0.1))
    assert not fixed.logit_scale.requires_grad and abs(fixed.scale().item() - 10) < 1e-4


# ---- the encoders --------------------------------------------------------------------------------------


def test_text_encoder_shapes_and_unit_embeddings(model, tokenizer):
    tokens = tokenizer(["a red star", "grinning face"])
    features, mask = model.encode_text_tokens(tokens)
    assert features.shape == (2, 16, 32) and torch.equal(mask, tokens != 0)
    emb = model.encode_text(tokens)
    assert emb.shape == (2, 32) and torch.allclose(emb.norm(dim=-1), torch.ones(2))
    assert torch.allclose(model.encode_prompts(["a red star", "grinning face"]), emb)


def test_padding_does_not_change_the_pooled_text_embedding(model, tokenizer):
    tokens = tokenizer(["a red star", "grinning face"])  # (2, 16), mostly padding
    short = tokens[:, : int((tokens != 0).sum(1).max())]  # the same prompts with no spare padding
    _, pooled_long = model.text(tokens)
    _, pooled_short = model.text(short)
    assert torch.allclose(pooled_long, pooled_short, atol=1e-6)
    with torch.no_grad():  # what sits at padded positions is never read
        model.text.pos_embed[:, -4:] += 5.0
    assert torch.allclose(model.text(tokens)[1], pooled_long, atol=1e-6)


def test_text_attention_masks_padding_out(model):
    attention = model.text.blocks[0].attn
    plain = layers.Attention(32, 2)
    plain.load_state_dict(attention.state_dict())
    x = torch.randn(2, 5, 32)
    assert torch.allclose(attention(x), plain(x), atol=1e-6)
    mask = torch.tensor([[True, True, False, False, False], [True] * 5])
    masked = attention(x, mask=mask)
    assert torch.allclose(masked[0, :2], plain(x[:1, :2])[0], atol=1e-5)  # as if the padding were not there


def test_image_encoder_is_a_vit_with_sincos_positions(model):
    vit = model.image
    assert torch.equal(vit.pos_embed[0], layers.sincos_2d(32, 2))  # 16 px / patch 8 = a 2x2 grid
    images = torch.rand(2, 3, 16, 16) * 2 - 1
    assert vit(images).shape == (2, 32)
    assert torch.allclose(model.encode_image(images).norm(dim=-1), torch.ones(2))
    mean_pool = clip.ImageEncoder(16, 8, 32, 1, 2, pool="mean")
    assert mean_pool.cls is None and mean_pool(images).shape == (2, 32)
    assert "pos_embed" not in vit.state_dict()  # fixed: rebuilt, not stored


def test_bad_inputs_are_refused_with_a_fix(model, tokenizer):
    good = tokenizer(["a red star"])
    for bad, match in [
        (good.float(), "integer tensor"),
        (good[0], "one prompt"),
        (torch.cat([good, good], 1), "L <= 16"),
        (good + 1000, "another tokenizer"),
        (torch.zeros(1, 16, dtype=torch.long), "empty prompt"),
    ]:
        with pytest.raises(ValueError, match=match):
            model.encode_text(bad)
    with pytest.raises(ValueError, match="reads 16x16"):
        model.encode_image(torch.zeros(1, 3, 32, 32))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        model.encode_image(torch.rand(1, 3, 16, 16))
    with pytest.raises(ValueError, match="build the config from the tokenizer"):
        clip.CLIP(clip.CLIPConfig(vocab_size=7), tokenizer)
    with pytest.raises(ValueError, match="no tokenizer"):
        clip.CLIP(clip.config_for(tokenizer, "tiny")).encode_prompts("a red star")
    with pytest.raises(ValueError, match="'cls' or 'mean'"):
        clip.ImageEncoder(16, 8, 32, 1, 2, pool="max")
    with pytest.raises(ValueError, match="unknown preset"):
        clip.config_for(tokenizer, "huge")


def test_training_pulls_pairs_together(tokenizer):
    torch.manual_seed(0)
    model = clip.CLIP(clip.config_for(tokenizer, "tiny", image_size=16), tokenizer)
    images = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1
    tokens = tokenizer(["a red star", "a blue circle", "grinning face", "a small green cross"])
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    first = clip.clip_loss(model(images, tokens)).item()
    for _ in range(60):
        optimizer.zero_grad()
        loss = clip.clip_loss(model(images, tokens))
        loss.backward()
        optimizer.step()
    assert first > 1.0 and loss.item() < 0.1 * first
    assert torch.equal(model(images, tokens).argmax(1), torch.arange(4))


# ---- the recipe ----------------------------------------------------------------------------------------


def test_recipe_builds_from_its_json_config_and_holds_out_emoji():
    import json
    from dataclasses import asdict

    from minidiff.recipes import clip as recipe

    tokenizer = text.train_bpe(["a red star"], 5, 8)
    model = clip.CLIP(clip.config_for(tokenizer, "tiny"), tokenizer)
    config = json.loads(json.dumps({"model": asdict(model.cfg), "tokenizer": tokenizer.config()}))
    again = recipe.build(config)
    again.load_state_dict(model.state_dict())
    assert torch.equal(again.encode_prompts("a red star"), model.encode_prompts("a red star"))
    held, train = set(recipe.held_out_emoji()), set(recipe.train_emoji())
    assert held and not held & train and 0 in held


def test_recipe_data_avoids_held_out_emoji_and_pairs():
    from minidiff.data import emoji, shapes
    from minidiff.recipes import clip as recipe

    tokenizer = text.course_tokenizer()
    data = recipe.make_data(tokenizer)
    images, tokens = data(32, torch.Generator().manual_seed(0))
    assert images.shape == (32, 3, 32, 32) and tokens.shape == (32, text.MAX_LEN)
    captions = [tokenizer.decode(row) for row in tokens]
    held_names = {emoji.names()[i] for i in recipe.held_out_emoji()}
    assert not held_names & set(captions[:16])
    assert all(f"{c} {s}" not in caption for caption in captions[16:] for c, s in shapes.HELD_OUT)


def test_text_condition_is_what_a_text_unet_reads():
    tokenizer = text.course_tokenizer()
    model = clip.CLIP(clip.config_for(tokenizer, "tiny"), tokenizer).eval()
    prompts = ["a small red circle at the top left", "a large blue star"]
    condition = model.text_condition(prompts)
    ids = tokenizer(prompts)
    torch.testing.assert_close(condition["cond"], model.encode_text(ids))
    tokens, mask = model.encode_text_tokens(ids)
    torch.testing.assert_close(condition["context"], tokens)
    assert torch.equal(condition["context_mask"], mask) and condition["context_mask"].dtype == torch.bool
    assert not any(value.requires_grad for value in condition.values())  # frozen: no graph kept
    with pytest.raises(ValueError, match="no tokenizer"):
        clip.CLIP(clip.config_for(tokenizer, "tiny")).text_condition(prompts)


def test_the_zoo_trains_caches_and_reloads_the_recipe(monkeypatch, tmp_path):
    from minidiff import zoo
    from minidiff.data import emoji
    from minidiff.recipes import clip as recipe

    emoji.load(32)  # rendered (or read) from the usual cache before the zoo's home moves
    monkeypatch.setenv("MINIDIFF_HOME", str(tmp_path))
    model = recipe.RECIPE.load(budget="quick", device="cpu")
    again = recipe.RECIPE.load(budget="quick", device="cpu")  # from the files
    assert again.tokenizer.config() == model.tokenizer.config()
    assert torch.equal(again.encode_prompts(["a red star"]), model.encode_prompts(["a red star"]))
    metrics = zoo.info(recipe.RECIPE, budget="quick")["metrics"]
    assert {"shapes_fresh_captions", "emoji_held_out", "composition_held_out", "temperature"} <= set(metrics)
    assert metrics["composition_held_out"]["chance_top1"] == pytest.approx(1 / 48)

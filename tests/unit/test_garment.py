"""closet.garment / closet.body on the package photos with their checked keypoints: where the
pose-garment mask lies, the hard cases (profile, hips below the frame, a hidden arm, two people,
no torso), and determinism."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest

from closet import color
from closet import garment as gm
from closet.body import body_from_keypoints
from closet.errors import NoGarment
from closet_dev import package_photos as pp
from tests.support.photos import GARMENT_BOXES, share


@pytest.mark.parametrize("name", pp.PHOTOS)
def test_garment_where_a_person_would_put_it(photo_people, name):
    scene, person = photo_people[name]
    g = gm.garment_mask(scene.image, person, scene.people[0])
    for part, box in GARMENT_BOXES[name]["garment"].items():
        assert share(g.mask, box) > 0.85, part
    for part, box in GARMENT_BOXES[name]["not"].items():
        assert share(g.mask, box) < 0.02, part


def test_a_table_the_person_mask_holds_is_not_the_garment(photo_people):
    """U^2-Net-P's mask is a salient-object mask: it holds a table in front of people sitting at
    it, and the garment took the table's top in (on a crowded card-table photo, a woman's garment
    ran over the table and the glass on it). Cut from the person's own silhouette (the pose
    model's, taken OWN_EDGE wider), it stops at the table. The cameraman with a table drawn across
    his hips; the person mask holds it, his silhouette does not."""
    scene, person = photo_people["camera"]
    top = 370
    image = scene.image.copy()
    image[top:] = (96, 62, 38)
    salient, own = person.copy(), person.copy()
    salient[top:], own[top:] = True, False
    blind = gm.garment_mask(image, salient, scene.people[0])
    seen = gm.garment_mask(image, salient, scene.people[0], lambda shape, f: own)
    reach = int(np.ceil(gm.OWN_EDGE * seen.body.scale)) + 1
    assert blind.mask[top + reach:].sum() > 5000  # before: the table's top under his hips
    assert seen.mask[top + reach:].sum() == 0
    assert (seen.mask[:top] == blind.mask[:top]).mean() > 0.99 and seen.silhouette is own


def test_clothes_the_person_mask_lost_are_taken_back_from_the_silhouette(photo_people):
    """U^2-Net-P's mask is of what stands out: a dark suit before a dark wall (a portrait cropped
    from its middle) was left out up to the face, and the garment was the block between the
    shoulder and hip joints, a rectangle cut through the folded arms. The cameraman's black coat,
    his person mask cut at his shoulders as that one was: without his silhouette the parse is that
    block; with it, GrabCut takes his coat back by its colours (`garment.regained`), and the parse
    is the one his whole mask gives. A mask that holds the person regains nothing."""
    scene, person = photo_people["camera"]
    kp = scene.people[0]
    full = gm.garment_mask(scene.image, person, kp)
    lost = person.copy()
    lost[int(max(full.body.left_shoulder[1], full.body.right_shoulder[1])):] = False
    blind = gm.garment_mask(scene.image, lost, kp)
    seen = gm.garment_mask(scene.image, lost, kp, lambda shape, f: person)

    def iou(a, b):
        return (a & b).sum() / (a | b).sum()

    assert iou(blind.mask, full.mask) < 0.7
    assert iou(seen.mask, full.mask) > 0.95
    # what it takes back lies on him, but for its edge (GrabCut runs reduced, GRABCUT_SIDE)
    assert seen.regained is not None and (seen.regained & ~person).sum() < 0.05 * seen.regained.sum()
    kept = gm.garment_mask(scene.image, person, kp, lambda shape, f: person)
    assert kept.regained is None and iou(kept.mask, full.mask) > 0.99
    # a mask that holds nothing of him gives GrabCut no colours of his: nothing, and no error
    assert not gm.regained(scene.image, np.zeros_like(person), person, full.torso, full.body).any()


def test_what_is_taken_back_from_the_silhouette_is_the_same_every_time(photo_people):
    """GrabCut seeds its colour models by k-means from OpenCV's random state, which every earlier
    call moves: a held-out photo regained 66 to 904 pixels from one call to the next, and the same
    request got other answers (`GRABCUT_SEED`). The cameraman's mask cut at his shoulders, taken
    back three times with the random state moved in between: the same pixels."""
    scene, person = photo_people["camera"]
    full = gm.garment_mask(scene.image, person, scene.people[0])
    lost = person.copy()
    lost[int(max(full.body.left_shoulder[1], full.body.right_shoulder[1])):] = False
    taken = []
    for state in (1, 2, 3):
        cv2.setRNGSeed(state)
        cv2.randu(np.zeros((64, 64), np.float32), 0, 1)
        taken.append(gm.regained(scene.image, lost, person, full.torso | full.arms, full.body))
    assert taken[0].sum() > 1000 and all((t == taken[0]).all() for t in taken[1:])


def test_a_bare_torso_is_no_garment(photo_people):
    """Bare shoulders and a bare chest, cut above the belly (a portrait above a camisole): what is
    left on the torso is a few pieces that are not skin (there: the hair's shadow and a card's
    edge; here: a name tag), and every swap painted them over. Under MIN_TORSO_COVERED of the
    torso the photo shows is no upper garment (422 no_garment). The astronaut cut at her chest,
    all of her below the head painted in her face's colour but her name tag, a pendant on a bare
    chest (before: a garment of 4,772 pixels, the tag and a sliver beside it)."""
    from closet.color import to_rgb8

    scene, person = photo_people["astronaut"]
    body = body_from_keypoints(scene.people[0], scene.image.shape)
    rs, ls, lh, rh = body.quad
    cut = int(min((rs[1] + rh[1]) / 2, (ls[1] + lh[1]) / 2))  # the belly is below the photo
    image, person = scene.image[:cut].copy(), person[:cut]
    suit = person & ~gm.head_mask(image.shape, body)
    suit[335:, 280:330] = False  # the name tag
    image[suit] = to_rgb8(np.float32([[gm.skin_from_face(scene.image, body).lab]]))[0, 0]
    kept = gm.garment_mask(scene.image[:cut], person, scene.people[0])  # the suit as it is
    assert kept.mask.sum() > 20000
    with pytest.raises(NoGarment) as refused:
        gm.garment_mask(image, person, scene.people[0])
    assert refused.value.detail["missing"] == "clothing"


def test_a_low_cut_top_bares_the_chest_and_stays_the_garment(photo_people):
    """A torso mostly of skin colour was read as a skin-coloured garment, and skin detection was
    dropped: on a card-table photo two women in low-cut tops had their bare chests, arms and blond
    hair made garment (then bared again as painted arms). A strapless top bares the chest above a
    garment of any colour; a skin-coloured garment covers the belly too, so the belly decides. The
    astronaut, the upper half of her torso painted in her face's colour."""
    from closet.color import to_rgb8

    scene, person = photo_people["astronaut"]
    body = body_from_keypoints(scene.people[0], scene.image.shape)
    rs, ls, lh, rh = body.quad
    chest = np.zeros(scene.image.shape[:2], np.uint8)
    cv2.fillPoly(chest, [np.round(np.float32([rs, ls, (ls + lh) / 2, (rs + rh) / 2])).astype(np.int32)], 1)
    chest = chest.astype(bool) & person
    image = scene.image.copy()
    image[chest] = to_rgb8(np.float32([[gm.skin_from_face(scene.image, body).lab]]))[0, 0]
    g = gm.garment_mask(image, person, scene.people[0])
    belly = np.zeros_like(chest, np.uint8)
    cv2.fillPoly(belly, [np.round(np.float32([(rs + rh) / 2, (ls + lh) / 2, lh, rh])).astype(np.int32)], 1)
    belly = belly.astype(bool) & person & ~chest
    assert belly.sum() > 5000
    assert g.skin_pixels[chest].mean() > 0.9 and g.mask[chest].mean() < 0.05  # was 1.0: all garment
    assert g.mask[belly].mean() > 0.9  # the suit below stays


def test_a_sleeves_skin_coloured_shadow_is_cloth_a_hand_on_it_is_skin(photo_people):
    """An olive-striped rugby shirt on a brown-skinned man read as skin in a strip along each
    sleeve's shadowed side, and `dress` bared his arms around those strips: dark brown specks in
    the painted skin. Skin-coloured pixels in a sleeve, enclosed by the garment, whose piece holds
    no disc of SKIN_CORE body widths are cloth. On the astronaut's sleeve, in her face's colour: a
    strip a sixtieth of her body wide is garment; a hand-sized disc stays skin, and so does a strip
    that runs out past the sleeve's edge."""
    scene, person = photo_people["astronaut"]
    kp = scene.people[0]
    body = body_from_keypoints(kp, scene.image.shape)
    plain = gm.garment_mask(scene.image, person, kp)
    arm = body.right_arm
    skin_rgb = color.to_rgb8(np.float32([[plain.skin.lab]]))[0, 0]
    mid = (arm.shoulder + arm.elbow) / 2
    along = (arm.elbow - arm.shoulder) / np.linalg.norm(arm.elbow - arm.shoulder)
    strip = gm.capsule(scene.image.shape, mid - 0.15 * body.scale * along, mid + 0.15 * body.scale * along,
                       body.scale / 120)
    hand = gm.capsule(scene.image.shape, arm.elbow, arm.elbow, 0.08 * body.scale)
    assert plain.mask[strip].mean() > 0.95 and plain.mask[hand].mean() > 0.9  # her sleeve, as sent
    image = scene.image.copy()
    image[strip | hand] = skin_rgb
    g = gm.garment_mask(image, person, kp)
    assert g.mask[strip].mean() > 0.9  # before: 0, skin
    assert g.mask[hand].mean() < 0.1 and g.skin_pixels[hand].mean() > 0.9
    # a strip as thin that runs out past the sleeve's edge is not enclosed: it stays skin
    out = np.float64([along[1], -along[0]])
    out = out if np.dot(out, body.across) < 0 else -out  # away from her middle, as her right arm is
    edge = gm.capsule(scene.image.shape, mid, mid + 0.5 * body.scale * out, body.scale / 120) & plain.mask
    image[edge] = skin_rgb
    assert edge.sum() > 50 and gm.garment_mask(image, person, kp).mask[edge].mean() < 0.1


def test_a_short_upper_arm_going_away_from_the_camera_is_behind_the_body(photo_people):
    """BlazePose read zidane.jpg's pointing arm as a short arm bent on his chest (upper arm 0.37 of
    his shoulder span), its elbow farther from the camera than its shoulder: `dress` painted skin
    on his chest. An upper arm under FORESHORTENED spans whose elbow lies behind its shoulder (z) is
    unseen. The astronaut's seen right arm, its elbow moved to 0.35 spans from her shoulder: unseen
    going away, seen coming toward the camera, and seen at full length either way; keypoints
    without z say nothing of depth."""
    from closet import body as body_module

    scene, _ = photo_people["astronaut"]
    kp3 = scene.people[0].astype(np.float64)
    kp = np.concatenate([kp3[:, :2], np.zeros((33, 1)), kp3[:, 2:]], axis=1)  # x, y, z, visibility
    r_shoulder, r_elbow = body_module.R_SHOULDER, body_module.R_ELBOW
    assert body_from_keypoints(kp, scene.image.shape).right_arm.seen
    span = np.linalg.norm(kp[body_module.L_SHOULDER, :2] - kp[r_shoulder, :2])
    short = kp.copy()
    toward = short[r_elbow, :2] - short[r_shoulder, :2]
    short[r_elbow, :2] = short[r_shoulder, :2] + 0.35 * span * toward / np.linalg.norm(toward)

    def seen(keypoints: np.ndarray, elbow_z: float) -> bool:
        keypoints = keypoints.copy()
        keypoints[r_elbow, 2] = elbow_z
        return body_from_keypoints(keypoints, scene.image.shape).right_arm.seen

    assert not seen(short, 0.2) and seen(short, -0.2)
    assert seen(kp, 0.2) and seen(kp, -0.2)
    assert body_from_keypoints(short[:, [0, 1, 3]], scene.image.shape).right_arm.seen


def test_a_person_in_front_is_not_the_garment(photo_people):
    """Whose nose is seen on someone's torso is in front of them (a seated woman before the man
    standing behind her on a card-table photo: her face was read as his shirt). The astronaut and a
    copy of her keypoints moved so that its nose lies on her chest: the copy is in front of her,
    not she of it; her garment leaves out its silhouette, and the parse keeps it."""
    scene, person = photo_people["astronaut"]
    kp = scene.people[0]
    body = body_from_keypoints(kp, scene.image.shape)
    ahead = kp.copy()
    ahead[:, :2] += (body.left_hip + body.right_hip) / 2 * 0.5 + body.neck * 0.5 - kp[0, :2]
    assert gm.people_in_front([kp, ahead], scene.image.shape) == [[1], []]
    assert gm.people_in_front([kp, kp + [300, 0, 0]], scene.image.shape) == [[], []]  # side by side
    disc = gm.capsule(scene.image.shape, ahead[0, :2], ahead[0, :2], 0.3 * body.scale)
    plain = gm.garment_mask(scene.image, person, kp)
    behind = gm.garment_mask(scene.image, person, kp, in_front=lambda shape, f: disc)
    assert (plain.mask & disc).sum() > 1000 and not (behind.mask & disc).any()
    assert behind.in_front is disc and ((plain.mask & ~disc) == behind.mask).mean() > 0.99


def test_a_piece_on_a_bare_arm_is_not_a_sleeve(photo_people):
    """A sleeve hangs from the garment's body; a piece on an arm that touches no garment on the
    torso is what the arm's hand holds or what lies on it (a hand of cards on a close-up, a strand of
    hair), and a longer sleeve was mirrored from it. The astronaut, her right forearm bared (painted
    in her face's colour) but for a playing card in it."""
    from closet.color import to_rgb8

    scene, person = photo_people["astronaut"]
    body = body_from_keypoints(scene.people[0], scene.image.shape)
    arm = body.right_arm
    forearm = gm.capsule(scene.image.shape, arm.elbow, arm.wrist, 0.35 * body.scale) & ~gm.torso_region(
        scene.image.shape, body)
    image = scene.image.copy()
    image[forearm] = to_rgb8(np.float32([[gm.skin_from_face(scene.image, body).lab]]))[0, 0]
    card = gm.capsule(scene.image.shape, arm.elbow, arm.elbow, 0.1 * body.scale) & forearm  # her wrist is on her torso
    image[card] = (235, 235, 240)
    assert card.sum() > 1000  # over 1% of her garment: no speck the clean-up drops
    g = gm.garment_mask(image, person, scene.people[0])
    assert not (g.mask & card).any()
    assert share(g.mask, GARMENT_BOXES["astronaut"]["garment"]["chest"]) > 0.85
    # the rule itself: pieces touching the torso's garment stay, the others go
    torso = np.zeros((20, 40), bool)
    torso[:, :20] = True
    mask = np.zeros_like(torso)
    mask[5:15, 10:25] = True  # the body and a sleeve from it
    mask[5:15, 30:35] = True  # a piece on the arm alone
    assert np.array_equal(gm.attached(mask, torso), mask & (np.arange(40) < 25))


def test_an_arm_in_warmer_light_than_the_face_is_skin(photo_people):
    """In a row of women a pale woman's bare arm, in a window's warm light, lay 10-17 a*b* off her
    face's colour: outside what the face predicts, so it was read as her tank top's cloth, and
    `coat` grew a copper "sleeve" from it over her arm. On the arms, skin of a skin's hue within
    ARM_SKIN_AB of the face's lit colour and off the torso's cloth is skin (`arm_skin`). The
    astronaut, her right forearm painted 17 a*b* warmer than her face's lit side (14 off its median,
    which the face predicts to 12)."""
    scene, person = photo_people["astronaut"]
    body = body_from_keypoints(scene.people[0], scene.image.shape)
    skin = gm.skin_from_face(scene.image, body)
    arm = body.right_arm
    forearm = gm.capsule(scene.image.shape, arm.elbow, arm.wrist, 0.2 * body.scale) & ~gm.torso_region(
        scene.image.shape, body) & person
    warm = np.float32([[[skin.lit[0] - 5, skin.lit[1] + 14, skin.lit[2] + 10]]])
    image = scene.image.copy()
    image[forearm] = color.to_rgb8(warm)[0, 0]
    assert forearm.sum() > 2000
    assert gm.skin_mask(image, skin)[forearm].mean() < 0.05  # the face does not predict it
    g = gm.garment_mask(image, person, scene.people[0])
    assert g.skin_pixels[forearm].mean() > 0.9 and g.mask[forearm].mean() < 0.1  # before: garment
    assert share(g.mask, GARMENT_BOXES["astronaut"]["garment"]["chest"]) > 0.85


def test_an_arm_whose_skin_was_found_is_skin_where_its_light_turns_warmer(photo_people):
    """A woman on a sofa under a cool light (group2.jpg): her face read a*b* (5, 5), her upper arm
    near it, and the forearm across her lap, in a lamp's warm light, (21, 24): 25 off the face, past
    what an arm's skin may be (ARM_SKIN_AB). Her upper arm was skin and her forearm her black
    camisole, which a coat's sleeve kept over the arm in tan patches. The rest of an arm whose skin
    was found continues it: the arm rule (`arm_skin`) against that skin's colour. The astronaut, her right
    forearm painted in a warm light, her upper arm 25 a*b* warmer still."""
    scene, person = photo_people["astronaut"]
    body = body_from_keypoints(scene.people[0], scene.image.shape)
    skin = gm.skin_from_face(scene.image, body)
    arm, torso = body.right_arm, gm.torso_region(scene.image.shape, body)
    forearm = gm.capsule(scene.image.shape, arm.elbow, arm.wrist, 0.2 * body.scale) & ~torso & person
    upper = gm.capsule(scene.image.shape, arm.shoulder, arm.elbow, 0.2 * body.scale) & ~torso & person & ~forearm
    lit = np.float32(skin.lit)
    image = scene.image.copy()
    image[forearm] = color.to_rgb8((lit + (-5, 10, 8))[None, None])[0, 0]
    warmer = color.to_rgb8((lit + (-5, 15, 20))[None, None])[0, 0]
    image[upper] = warmer
    assert upper.sum() > 1000 and forearm.sum() > 2000
    assert np.hypot(*(color.to_lab(warmer[None, None])[0, 0, 1:] - lit[1:])) > gm.ARM_SKIN_AB
    g = gm.garment_mask(image, person, scene.people[0])
    assert g.skin_pixels[forearm].mean() > 0.9  # the arm rule's
    assert g.skin_pixels[upper].mean() > 0.9 and g.mask[upper].mean() < 0.1  # before: garment
    assert share(g.mask, GARMENT_BOXES["astronaut"]["garment"]["chest"]) > 0.85
    assert not gm.arm_skin(color.to_lab(warmer[None, None]), skin, None).any()  # not the arm rule's
    # A red sleeve beside it is of a skin's hue too (a red dress in front of a man's arm), but 25
    # a*b* off the skin found: it stays the garment.
    red = color.to_rgb8((lit + (-5, 35, 12))[None, None])[0, 0]
    image[upper] = red
    assert gm.leg_skin(color.to_lab(red[None, None]), skin, np.float32([90.0, 0.0, 0.0])).all()
    assert gm.garment_mask(image, person, scene.people[0]).mask[upper].mean() > 0.9


def test_arm_skin_is_a_skins_hue_near_the_face_and_off_the_cloth():
    skin = gm.Skin(lab=(60.0, 12.0, 18.0), spread=3.0, known=True, lit=(66.0, 12.0, 18.0))
    cloth = np.float32([30.0, 40.0, 45.0])  # a dark orange suit
    lab = np.float32([
        [60, 20, 26],  # 11 a*b* warmer than the face: skin
        [60, 12, 40],  # 22 off: no
        [60, 2, -6],  # bluish: not a skin's hue
        [15, 12, 18],  # the face's colour in deep shadow (45 darker): no
        [45, 26, 32],  # 20 off the face, 24 off the cloth (CIE76): its cloth
    ])
    assert gm.arm_skin(lab, skin, cloth).tolist() == [True, False, False, False, False]
    assert gm.arm_skin(lab, skin, None).tolist() == [True, False, False, False, True]
    assert not gm.arm_skin(lab, replace(skin, known=False), None).any()  # a grayscale photo


def test_a_bare_leg_in_another_light_than_the_face_is_skin(photo_people):
    """Three women on a sofa in a window's light, in a short dress and camisoles: their faces read
    a*b* (5-7, 2-9), the skin-hued pixels of their bare thighs and knees a median (12-19, 9-18), lying
    in front of the lower torso. The face predicts no such skin, so they were the garment, and every target painted them in
    copper blocks. Where pose sees a knee, the leg from the hip joint holds skin of any skin's hue
    off the torso's cloth (`leg_skin`). The astronaut with a thigh across her lower torso in a pink
    light, 23 a*b* off her face (beyond what even an arm's skin may be, ARM_SKIN_AB), her knee seen."""
    from closet.body import L_HIP, L_KNEE, R_HIP

    scene, person = photo_people["astronaut"]
    keypoints = scene.people[0].copy()
    hip, other = keypoints[L_HIP, :2], keypoints[R_HIP, :2]
    keypoints[L_KNEE, :2] = other + (hip - other) * 0.6 - (0.0, 80.0)  # the knee raised in front of her
    keypoints[L_KNEE, -1] = 1.0
    body = body_from_keypoints(keypoints, scene.image.shape)
    skin = gm.skin_from_face(scene.image, body)
    thigh = gm.capsule(scene.image.shape, hip, keypoints[L_KNEE, :2], 0.15 * body.scale) & gm.torso_region(
        scene.image.shape, body) & person
    pink = np.float32([[[skin.lit[0] - 5, skin.lit[1] + 22, skin.lit[2] - 6]]])
    image = scene.image.copy()
    image[thigh] = color.to_rgb8(pink)[0, 0]
    assert thigh.sum() > 2000
    lab = color.to_lab(image[thigh][None])[0]
    assert not gm.arm_skin(lab, skin, None).any()  # farther from the face than an arm's skin may be
    unseen = keypoints.copy()
    unseen[L_KNEE, -1] = 0.0
    assert gm.garment_mask(image, person, unseen).mask[thigh].mean() > 0.9  # no knee: the garment, as before
    g = gm.garment_mask(image, person, keypoints)
    assert g.skin_pixels[thigh].mean() > 0.9 and g.mask[thigh].mean() < 0.1
    assert share(g.mask, GARMENT_BOXES["astronaut"]["garment"]["chest"]) > 0.85


def test_leg_skin_is_any_skins_hue_off_the_cloth():
    skin = gm.Skin(lab=(60.0, 6.0, 2.0), spread=3.0, known=True, lit=(66.0, 6.0, 2.0))
    cloth = np.float32([20.0, 1.0, 0.0])  # a black camisole
    lab = np.float32([
        [60, 26, 22],  # a knee in warm light, 28 a*b* off the face: skin
        [60, 2, -12],  # bluish: not a skin's hue
        [25, 8, 6],  # near the cloth (CIE76 under ARM_SKIN_OFF_CLOTH): its cloth
        [10, 20, 20],  # 50 darker than the face: no
    ])
    assert gm.leg_skin(lab, skin, cloth).tolist() == [True, False, False, False]
    assert not gm.leg_skin(lab, replace(skin, known=False), cloth).any()  # a grayscale photo


def test_a_neck_in_the_shade_is_skin(photo_people):
    """A man before a blue screen: his lit face a*b* (23, 22), the shade under his chin (14, 17), 12
    off the face's median, past the radius his face gives skin, so `coat` painted his neck in his
    sweater's knit. The neck, from the mouth to the collar, takes the arm rule (`neck_skin`): Grace
    Hopper's neck painted in such a shade, farther from her face's median than her skin's radius, is
    skin; the same shade on her chest, below the collar, is not."""
    scene, person = photo_people["grace_hopper"]
    keypoints = scene.people[0]
    body = body_from_keypoints(keypoints, scene.image.shape)
    skin = gm.skin_from_face(scene.image, body)
    shade = np.float32([[[skin.lab[0] - 15, skin.lit[1] - 12, skin.lit[2] - 12]]])  # 19 a*b* off the face
    image = scene.image.copy()
    neck = np.zeros(person.shape, bool)
    neck[330:380, 230:290] = True
    chest = np.zeros(person.shape, bool)
    chest[470:510, 200:260] = True
    image[neck | chest] = color.to_rgb8(shade)[0, 0]
    assert not gm.skin_mask(image, skin)[neck].any()  # the face does not predict it
    g = gm.garment_mask(image, person, keypoints)
    below_the_head = neck & ~g.head
    assert below_the_head.sum() > 1000
    assert g.skin_pixels[below_the_head].mean() > 0.9 and g.mask[neck].mean() < 0.1  # 0.06 and 0.94 before
    assert g.mask[chest].mean() > 0.9


def test_neck_skin_is_the_arm_rule_off_the_cloths_hue():
    skin = gm.Skin(lab=(60.0, 25.0, 20.0), spread=4.5, known=True, lit=(67.0, 23.0, 22.0))
    cloth = np.float32([33.0, 0.5, -1.0])  # a dark gray knit
    lab = np.float32([
        [35, 12, 16],  # the shade under a chin: 20 CIE76 from the knit, 19 in a*b*: skin
        [35, 3, 4],  # the knit's own shade, a little warm: not off its hue
        [35, 40, 40],  # 25 a*b* off the face's lit side: no
    ])
    assert gm.neck_skin(lab, skin, cloth).tolist() == [True, False, False]
    assert not gm.neck_skin(lab, replace(skin, known=False), cloth).any()


def test_a_neighbours_bare_arm_is_theirs():
    """In that row of women a bare arm lay across the neighbour's shoulder and chest: in her
    silhouette and her torso, so it was her garment, and every target painted it in her cloth's
    light (copper and brown blocks). Another person's arms, where they show that person's skin, are
    theirs (`their_bare_arms`): here a person whose arms, in blue sleeves, have bare forearms of
    their face's colour; on a copy reduced by half the same."""
    k = _standing_keypoints()
    shape = (500, 500, 3)
    body = body_from_keypoints(k, shape)
    skin = gm.Skin(lab=(60.0, 12.0, 18.0), spread=3.0, known=True, lit=(66.0, 12.0, 18.0))
    image = np.zeros(shape, np.uint8)
    image[:] = (40, 60, 160)  # blue cloth everywhere
    image[200:260] = color.to_rgb8(np.float32([[[60.0, 17.0, 24.0]]]))[0, 0]  # forearms (y 175-240) and below: skin
    theirs = gm.their_bare_arms(image, body, skin, shape)
    assert theirs[220, 215] and theirs[220, 85]  # on each forearm
    assert not theirs[220, 150]  # between the arms: their torso, not their arm
    assert not theirs[140, 205]  # the upper arm's blue sleeve
    half = gm.their_bare_arms(image, body, skin, (250, 250, 3), 0.5)
    assert half[110, 107] and not half[110, 75] and not half[70, 102]
    assert not gm.their_bare_arms(image, None, skin, shape).any()


def test_profile_gets_a_mask_and_gray_photo_has_no_skin_colour(photo_people):
    scene, person = photo_people["camera"]  # a profile, in grayscale
    g = gm.garment_mask(scene.image, person, scene.people[0])
    assert gm.is_grayscale(scene.image) and not g.skin.known
    assert not g.skin_pixels.any()
    # the widened torso of a profile: the coat from the back to the chest
    assert g.body.scale > 2 * np.linalg.norm(scene.people[0][11, :2] - scene.people[0][12, :2])
    assert g.mask.mean() > 0.1


def test_skin_is_calibrated_on_the_face(photo_people):
    scene, person = photo_people["grace_hopper"]
    g = gm.garment_mask(scene.image, person, scene.people[0])
    assert g.skin.known
    neck = [230, 330, 290, 380]  # her bare neck, inside the collar region of the torso polygon
    assert share(g.skin_pixels, neck) > 0.5
    assert share(g.mask, neck) < 0.3


def test_the_lit_side_of_a_face_is_of_its_skin(photo_people):
    """A boy laughing before a white studio wall: his teeth and the wall filled 35% of the face
    ellipse the lit side is read in, and that lit side read white (L 100), so `dress` bared his arm
    as a white tube. The lit side is now read on the face's skin-hued pixels: the astronaut with the
    lower 35% of that ellipse painted white keeps her lit colour."""
    scene, _ = photo_people["astronaut"]
    body = body_from_keypoints(scene.people[0], scene.image.shape)
    before = gm.skin_from_face(scene.image, body)
    rows, cols, inside = gm.lit_face(scene.image.shape, body)
    ys, xs = np.nonzero(inside)
    white = ys >= np.percentile(ys, 65)
    image = scene.image.copy()
    image[ys[white] + rows.start, xs[white] + cols.start] = 255
    after = gm.skin_from_face(image, body)
    assert abs(after.lit[0] - before.lit[0]) < 4 and np.hypot(after.lit[1] - before.lit[1], after.lit[2] - before.lit[2]) < 3
    assert after.lit[0] < 90


def test_hips_below_the_frame_are_extrapolated(photo_people):
    scene, person = photo_people["grace_hopper"]
    body = body_from_keypoints(scene.people[0], scene.image.shape)
    assert not body.hips_seen
    assert body.left_hip[1] > scene.image.shape[0] and body.right_hip[1] > scene.image.shape[0]
    # shoulders-to-hips from the shoulder span, not from BlazePose's guess off the frame
    span = np.linalg.norm(scene.people[0][11, :2] - scene.people[0][12, :2])
    assert body.length == pytest.approx(1.35 * span, rel=0.01)


@pytest.mark.parametrize("where", ["between the shoulders", "on the shoulders", "3 px below them",
                                   "at the elbows"])
def test_hips_seen_at_the_shoulders_are_a_pose_error(photo_people, where):
    """A pose model can put the hips on the shoulders. Taken as seen, the torso quad collapsed to a
    line: its inverse map divided by zero, and the garment was 2% of the suit. Or at the elbows,
    1.5 face widths down (people seated at a table): the garment then measured as a coat, and a top
    was cut across the chest. Now such hips are unseen, and the body is the one a photo cut at the
    waist gets."""
    scene, person = photo_people["astronaut"]
    kp = scene.people[0].copy()
    shoulders = kp[[11, 12], :2]
    elbows = shoulders + [[0, 1.5 * body_from_keypoints(kp, scene.image.shape).face_size]] * 2
    kp[[23, 24], :2] = {"between the shoulders": np.repeat(shoulders.mean(axis=0)[None], 2, axis=0),
                        "on the shoulders": shoulders,
                        "3 px below them": shoulders.mean(axis=0) + [[0, 3], [0, 3]],
                        "at the elbows": elbows}[where]
    kp[[23, 24], 2] = 0.99
    body = body_from_keypoints(kp, scene.image.shape)
    assert not body.hips_seen
    assert body.length == pytest.approx(body_from_keypoints(scene.people[0], scene.image.shape).length)
    with np.errstate(all="raise"):  # no division by zero on the way
        g = gm.garment_mask(scene.image, person, kp)
    assert share(g.mask, GARMENT_BOXES["astronaut"]["garment"]["chest"]) > 0.85


def test_a_skeleton_squeezed_onto_the_head_has_its_hips_placed_from_the_face(photo_people):
    """Cut at her side, the astronaut's skeleton is squeezed up: shoulders on her helmet ring, half a
    face width below her mouth, and hips on her name patch 2.05 face widths below them, seen at
    0.95. Taken as seen, `pullover`, `shirt` and `tshirt` cut her suit at the patch and drew dark
    trousers below it, over her chest. Here her own keypoints, squeezed the same way: the hips are
    not trusted, and they lie as far below the mouth as usual."""
    from closet.body import FACE_PER_TORSO, NECK

    scene, _ = photo_people["astronaut"]
    kp = scene.people[0].copy()
    fw = body_from_keypoints(kp, scene.image.shape).face_size
    mouth = kp[[9, 10], :2].mean(axis=0)
    kp[[11, 12], :2] += (mouth + [0, 0.5 * fw]) - kp[[11, 12], :2].mean(axis=0)  # shoulders up to the ring
    kp[[23, 24], :2] = kp[[11, 12], :2] + [0, 2.05 * fw]  # hips on the patch
    kp[[23, 24], 2] = 0.95
    body = body_from_keypoints(kp, scene.image.shape)
    assert not body.hips_seen
    hips = (body.left_hip + body.right_hip) / 2
    assert hips[1] - mouth[1] == pytest.approx((NECK + FACE_PER_TORSO) * fw, rel=0.02)
    # the same hips under shoulders where they belong are seen
    kp[[11, 12], :2] += [0, 0.5 * fw]
    kp[[23, 24], :2] += [0, 0.5 * fw]
    assert body_from_keypoints(kp, scene.image.shape).hips_seen


def test_one_arm_hidden(photo_people):
    scene, person = photo_people["astronaut"]  # her left arm is behind the helmet (elbow visibility 0.33)
    g = gm.garment_mask(scene.image, person, scene.people[0])
    assert g.body.right_arm.seen and not g.body.left_arm.seen
    assert share(g.mask, [300, 400, 450, 500]) < 0.05  # the helmet is not garment
    assert share(g.mask, [60, 300, 110, 360]) > 0.85  # the seen arm's sleeve is


def test_two_people_side_by_side_give_two_masks(photo_people):
    a, pa = photo_people["astronaut"]
    g, pg = photo_people["grace_hopper"]
    scene = pp.side_by_side(a, pp.flip(g), "two")
    # the person mask of the composition: the two masks through the same resize
    import cv2

    masks = []
    for s, m in ((a, pa), (g, pg[:, ::-1])):
        f = 384 / s.image.shape[0]
        masks.append(cv2.resize(m.astype(np.uint8), (int(round(s.image.shape[1] * f)), 384), interpolation=cv2.INTER_NEAREST))
    person = np.concatenate(masks, axis=1).astype(bool)
    split = masks[0].shape[1]
    left, right = (gm.garment_mask(scene.image, person, kp).mask for kp in scene.people)
    assert left[:, :split].sum() > 0.97 * left.sum() and right[:, split:].sum() > 0.97 * right.sum()
    assert (left & right).sum() == 0
    assert left.sum() > 5000 and right.sum() > 5000


def test_face_close_up_has_no_torso(photo_people):
    scene, person = photo_people["grace_hopper"]
    close = pp.crop(scene, (120, 20, 420, 340), "face")  # face only: shoulders below the frame
    with pytest.raises(NoGarment) as e:
        gm.garment_mask(close.image, person[20:340, 120:420], close.people[0])
    assert e.value.detail["missing"] == "shoulders" and "below the frame" in e.value.detail["hint"]


def test_legs_only_has_no_torso(photo_people):
    scene, person = photo_people["camera"]
    legs = pp.crop(scene, (0, 440, 512, 512), "legs")  # shoulders above the frame
    with pytest.raises(NoGarment) as e:
        gm.garment_mask(legs.image, person[440:], legs.people[0])
    assert "above the frame" in e.value.detail["hint"]
    unseen = scene.people[0].copy()
    unseen[[11, 12], 2] = 0.05  # the estimator did not see the shoulders at all
    with pytest.raises(NoGarment, match="no torso"):
        gm.garment_mask(scene.image, person, unseen)


def test_deterministic(photo_people):
    scene, person = photo_people["astronaut"]
    a = gm.garment_mask(scene.image, person, scene.people[0])
    b = gm.garment_mask(scene.image.copy(), person.copy(), scene.people[0].copy())
    assert np.array_equal(a.mask, b.mask) and a.skin == b.skin


def test_keypoints_with_z_column_are_read(photo_people):
    scene, person = photo_people["astronaut"]
    kp = scene.people[0]
    with_z = np.concatenate([kp[:, :2], np.zeros((33, 1)), kp[:, 2:3]], axis=1)  # closet.pose's (33, 4)
    assert np.array_equal(gm.garment_mask(scene.image, person, with_z).mask, gm.garment_mask(scene.image, person, kp).mask)


def test_no_gray_or_black_is_skin_after_a_dim_face():
    """zidane.jpg's grey-haired man: his face, sampled in the shadow under the nose, measures
    L 23.5, a*b* (8.4, 18.1), spread 8.3 (skin_from_face on BlazePose's keypoints). A radius of
    2.5 spreads would reach the neutral axis, and 73% of his black suit was taken for skin: the
    garment mask fell to fragments and the swap painted gray blocks over him. The radius stays
    under the face's chroma."""
    from closet_dev import pose_photos

    try:
        image = pose_photos.fetched_photos()["zidane"]
    except pose_photos.NotFetched as e:
        pytest.skip(str(e))
    skin = gm.Skin(lab=(23.5, 8.4, 18.1), spread=8.3, known=True, lit=(55.7, 15.1, 26.3))
    suit, face = image[450:700, 860:960], image[150:260, 930:1040]  # (y0:y1, x0:x1), read off the photo
    assert gm.skin_mask(suit, skin).mean() < 0.02
    assert gm.skin_mask(face, skin).mean() > 0.5
    grays = np.repeat(np.arange(0, 256, 5, dtype=np.uint8), 3).reshape(1, -1, 3)
    assert not gm.skin_mask(grays, skin).any()
    # Skin as light as the face's lit side: the lit half of the other man's hand, pointing in front
    # of him, was taken for his cloth (0.69 of the back of that hand was skin, 0.83 now).
    hand = image[425:465, 1010:1070]
    assert gm.skin_mask(hand, skin).mean() > 0.8


def test_bared_skin_takes_the_faces_lit_colour_not_a_shadow_under_the_nose(photo_people):
    """Skin.lit, the colour a bared arm is painted in, is the lit side of the face from the eyes to
    below the mouth. Darkening the nose-to-mouth sample to a third (a nose's shadow or an
    open mouth: zidane.jpg's grey-haired man reads L 23.5 there, 55.7 lit) moves the parse's skin
    sample by over 20 L, and lit by a quarter of that at most."""
    scene, _ = photo_people["grace_hopper"]
    body = body_from_keypoints(scene.people[0], scene.image.shape)
    skin = gm.skin_from_face(scene.image, body)
    assert skin.lit[0] >= skin.lab[0]
    assert np.hypot(skin.lit[1] - skin.lab[1], skin.lit[2] - skin.lab[2]) < 8  # the same hue
    f, size = body.face, body.face_size
    mouth = (f[9] + f[10]) / 2
    shadow = gm._ellipse(scene.image.shape, 0.5 * f[0] + 0.5 * mouth, (0.28 * size, 0.16 * size), 0.0)
    dim = scene.image.copy()
    dim[shadow] = (dim[shadow] * 0.35).astype(np.uint8)
    shaded = gm.skin_from_face(dim, body)
    drop, lit_drop = skin.lab[0] - shaded.lab[0], skin.lit[0] - shaded.lit[0]
    assert drop > 20 and abs(lit_drop) < 0.25 * drop


@pytest.mark.parametrize("name", ["astronaut", "grace_hopper"])
def test_a_face_mostly_in_shadow_gives_its_lit_side(photo_people, name):
    """A side light leaves most of a face in shadow (zidane.jpg's Zidane: his brighter half reads
    L 26, his lit side 57, and his bared arms were ochre paint). With all but the face's right
    sixth shadowed to 40% of its light, `lit` is that sixth's colour, not the shadow's."""
    scene, _ = photo_people[name]
    body = body_from_keypoints(scene.people[0], scene.image.shape)
    rows, cols, face = gm.lit_face(scene.image.shape, body)
    xs = np.nonzero(face)[1]
    shadowed = face & (np.arange(face.shape[1])[None, :] < np.percentile(xs, 83))
    dim = scene.image.copy()
    box = dim[rows, cols]
    box[shadowed] = (box[shadowed] * 0.4).astype(np.uint8)
    lab = color.to_lab(dim[rows, cols])
    lit_side = np.median(lab[face & ~shadowed], axis=0)
    assert np.median(lab[face][:, 0]) < lit_side[0] - 20  # the face's median is the shadow's
    got = gm.skin_from_face(dim, body).lit
    assert abs(got[0] - lit_side[0]) < 6 and np.hypot(got[1] - lit_side[1], got[2] - lit_side[2]) < 6, (got, lit_side)


@pytest.mark.parametrize("name", ["astronaut", "grace_hopper"])
def test_a_face_of_no_skins_colour_is_someone_turned_away(photo_people, name):
    """BlazePose "sees" the face of someone turned away: on a man seen from behind in a blue hood
    (a held-out photo, not committed) the face read Lab (36, 17, -11), and `dress` bared mauve arms.
    A face whose lit colour is of no skin's hue gives DEFAULT_SKIN, lit from the front; the faces
    of the package photos keep their own."""
    scene, _ = photo_people[name]
    body = body_from_keypoints(scene.people[0], scene.image.shape)
    own = gm.skin_from_face(scene.image, body)
    assert gm.is_skin_colour(own.lit) and own.lit != gm.DEFAULT_SKIN
    hooded = scene.image.copy()
    head = gm.head_mask(scene.image.shape, body)
    rng = np.random.default_rng(0)
    hood = color.to_rgb8(np.float32([[[40.0, 15.0, -45.0]]]))[0, 0].astype(np.int16)  # a blue hood
    hooded[head] = np.clip(hood + rng.normal(0, 6, (int(head.sum()), 3)), 0, 255).astype(np.uint8)
    turned = gm.skin_from_face(hooded, body)
    assert turned.lit == turned.lab == gm.DEFAULT_SKIN and turned.spread == gm.DEFAULT_SKIN_SPREAD
    assert turned.light == gm.lighting.FRONT


def test_a_skins_colour_is_told_by_its_hue():
    for lab in [(63, 14, 22), (45, 22, 16), (63, 24, 11), (65, 4, 27), (58, 2, 7), (50, 1, -2)]:
        assert gm.is_skin_colour(lab), lab  # faces of the photos we have; too gray to tell
    for lab in [(36, 17, -11), (50, -20, 10), (40, 5, -30), (60, 30, -2)]:
        assert not gm.is_skin_colour(lab), lab  # a blue hood, green, blue, magenta


def test_the_faces_grain_is_the_photos_fine_texture(photo_people):
    """Skin.grain, the texture bared skin is painted with (gray levels), follows the photo: smoothed, the face
    has less of it; with sensor noise added, more."""
    scene, _ = photo_people["astronaut"]
    body = body_from_keypoints(scene.people[0], scene.image.shape)
    grain = gm.skin_from_face(scene.image, body).grain
    smooth = cv2.GaussianBlur(scene.image, (0, 0), 1.5)
    noisy = np.clip(scene.image + np.random.default_rng(0).normal(0, 12, scene.image.shape), 0, 255).astype(np.uint8)
    assert 1 < grain < 12  # gray levels
    assert gm.skin_from_face(smooth, body).grain < 0.5 * grain
    assert gm.skin_from_face(noisy, body).grain > 1.5 * grain


def _standing_keypoints() -> np.ndarray:
    """(33, 3) a person facing the camera: shoulders at y 100 (x 100, 200), hips at y 250, arms down
    the sides, legs below, every landmark seen."""
    k = np.zeros((33, 3), np.float32)
    k[:, 2] = 1.0
    k[0:11, :2] = [150, 60]
    k[1:11, 0] += np.linspace(-20, 20, 10)  # eyes, ears and mouth spread across the face
    k[11], k[12] = (200, 100, 1), (100, 100, 1)  # left, right shoulder
    k[13], k[14], k[15], k[16] = (215, 175, 1), (85, 175, 1), (215, 240, 1), (85, 240, 1)
    k[17:23, :2] = k[[15, 16, 15, 16, 15, 16], :2]
    k[23], k[24] = (190, 250, 1), (110, 250, 1)  # left, right hip
    k[25:33, :2] = [[180, 350], [120, 350], [180, 440], [120, 440], [180, 450], [120, 450], [185, 455], [115, 455]]
    return k


def test_a_neighbours_torso_is_theirs():
    """Two people side by side whose torsos overlap (the second 80 px right of the first): the
    second's torso is the first's neighbour's where the first's is not, and where both are, by the
    nearer middle line; on a copy reduced by half, the same pixels; with no torso of one's own, all
    of the other's."""
    k = _standing_keypoints()
    shape = (500, 500)
    me, them = (body_from_keypoints(kp, shape) for kp in (k, k + [80, 0, 0]))
    theirs = gm.nearer_torsos(me, [them], shape)
    assert theirs[175, 240] and not theirs[175, 150]  # their middle (x 230), my middle (x 150)
    assert theirs[175, 195] and not theirs[175, 185]  # where both torsos lie: x 195 is 35 px from their middle, 45 from mine
    assert gm.torso_region(shape, them)[175, 185] and gm.torso_region(shape, me)[175, 195]
    assert not theirs[40, 240]  # above their collar
    half = gm.nearer_torsos(me, [them], (250, 250), 0.5)
    assert half[87, 119] and not half[87, 75]
    assert (gm.nearer_torsos(None, [them], shape) == gm.torso_region(shape, them)).all()
    assert not gm.nearer_torsos(me, [None], shape).any()


def test_a_coats_dark_side_is_cloth_not_specks():
    """Below the torso the garment is read pixel by pixel by colour (`skirt`). A dark suit's
    shadowed side falls near black, where its blue is noise: Obama's jacket (obama3.jpg) came out
    full of holes there, and a longer `coat` drew the background into them. Gaps narrower than
    SKIRT_CLOSE body widths between garment pixels are garment; the black trousers below the coat's
    hem, a whole region of the other colour, stay out."""
    image = np.zeros((480, 300, 3), np.uint8)
    person = np.zeros((480, 300), bool)
    person[40:470, 80:220] = True
    image[person] = (8, 8, 10)  # near black: the face, the trousers
    image[95:330, 90:210] = (20, 25, 60)  # navy: the jacket, its hem at y 330
    rng = np.random.default_rng(0)
    specks = np.zeros_like(person)
    for y, x in rng.integers((260, 95), (325, 205), (40, 2)):  # near-black specks on the jacket below the hips
        specks[y:y + 3, x:x + 3] = True
    image[specks] = (8, 8, 10)
    body = body_from_keypoints(_standing_keypoints(), image.shape)
    torso = np.zeros((480, 300), np.uint8)
    cv2.fillPoly(torso, [np.round(body.quad).astype(np.int32)], 1)
    mask = torso.astype(bool) & ~specks
    out = gm.skirt(image, person, mask, body)
    below_hips = specks.copy()
    below_hips[:255] = False
    assert below_hips.sum() > 200 and out[below_hips].mean() > 0.95  # before: none of them
    assert out[340:470].mean() < 0.02  # the trousers below the hem


def test_a_hand_reaches_toward_its_knuckles():
    """A hand need not point along its forearm: folded arms lay Obama's right hand on his left
    sleeve, fingers up, and a sleeve grown to the wrist covered them. The hand region reaches from
    the wrist toward each knuckle pose gives, FINGERS_PER_PALM times as far."""
    body = body_from_keypoints(_standing_keypoints(), (480, 300, 3))
    arm = body.left_arm  # down the side: elbow (215, 175), wrist (215, 240)
    sideways = replace(arm, knuckles=np.float32([[240, 246], [243, 240], [238, 233]]))  # fingers to the right
    fingertip = (arm.wrist + gm.FINGERS_PER_PALM * (np.float32([243, 240]) - arm.wrist) * 0.9).round().astype(int)
    along_forearm = gm.hand_region((480, 300), replace(body, left_arm=replace(arm, knuckles=None)))
    with_knuckles = gm.hand_region((480, 300), replace(body, left_arm=sideways))
    assert not along_forearm[fingertip[1], fingertip[0]]
    assert with_knuckles[fingertip[1], fingertip[0]]
    assert (with_knuckles | along_forearm).sum() == with_knuckles.sum()  # the forearm's reach stays


def test_a_hand_runs_on_from_the_wrist():
    """garment.hand_region: a capsule on from each wrist along its forearm, HAND_PER_FOREARM of its
    length; not the forearm itself."""

    scene = pp.photo("astronaut")
    body = body_from_keypoints(scene.people[0], scene.image.shape)
    arm = body.left_arm
    hands = gm.hand_region(scene.image.shape, body)

    def at(p) -> bool:
        return bool(hands[int(round(p[1])), int(round(p[0]))])

    forearm = arm.wrist - arm.elbow
    assert at(arm.wrist) and at(arm.wrist + 0.6 * gm.HAND_PER_FOREARM * forearm)
    assert not at(arm.wrist - 0.5 * forearm)  # mid-forearm
    # in a box, pixel for pixel the image's
    x0, y0 = int(arm.wrist[0]) - 40, int(arm.wrist[1]) - 40
    box = gm.hand_region((80, 80), body, (x0, y0))
    assert np.array_equal(box, hands[y0:y0 + 80, x0:x0 + 80])


def test_a_wide_faces_spread_takes_no_warm_gray_for_skin():
    """A warm-lit card-table photo (not ours to commit): a man's face read Lab (75, 11.2, 28.2), its
    a*b* spread 10.3, and 2.5 spreads (22.8) reached his gray shirt in that light, 14-27 a*b* off: 58%
    of his shirt was skin, the garment fell to JPEG blocks, and the swap painted gray blocks on it.
    The radius stops at SKIN_MAX_AB; the skin around the face's colour is still skin."""
    from closet.color import to_rgb8

    skin = gm.Skin(lab=(75.0, 11.2, 28.2), spread=10.3, known=True, lit=(78.8, 7.5, 22.2))
    shirt = to_rgb8(np.float32([[[58.5, -3.5, 9.6], [75.2, 0.8, 6.8], [60.7, -1.8, 9.8], [79.4, 0.4, 3.5]]]))
    assert not gm.skin_mask(shirt, skin).any()
    angles = np.radians(np.arange(0, 360, 30))
    near = np.float32([[[70.0, 11.2 + 15 * np.cos(t), 28.2 + 15 * np.sin(t)] for t in angles]])  # 15 off the face
    assert gm.skin_mask(to_rgb8(near), skin).all()


def test_a_garment_across_the_skin_radius_is_one_garment(photo_people):
    """The same gray shirt at the card table, on another pass of the pose model: his face read
    spread 9.1, and the shirt lay across SKIN_MAX_AB in JPEG blocks, 0.39 of his belly skin within
    it: under the 0.5 of a skin-coloured garment, so the garment was the blocks left, painted as
    blocks. Whether a garment is skin-coloured is asked within the face's whole spread. The
    astronaut, her face painted with a spread of about 10 around that man's colour, her torso in
    16 px blocks 21 a*b* off it, every third one 12: one garment."""
    scene, person = photo_people["astronaut"]
    body = body_from_keypoints(scene.people[0], scene.image.shape)
    rng = np.random.default_rng(0)
    image = scene.image.copy()
    head = gm.head_mask(image.shape, body)
    r, t = 14.5 * np.sqrt(rng.random(head.sum())), rng.random(head.sum()) * 2 * np.pi  # uniform in a disc
    face = np.stack([75 + rng.normal(0, 2, len(r)), 11.2 + r * np.cos(t), 28.2 + r * np.sin(t)], 1)
    image[head] = color.to_rgb8(face[None].astype(np.float32))[0]
    skin = gm.skin_from_face(image, body)
    assert 8 < skin.spread < 12 and np.hypot(skin.lab[1] - 11.2, skin.lab[2] - 28.2) < 3
    towards_gray = -np.float32([11.2, 28.2]) / np.hypot(11.2, 28.2)
    near, far = (np.float32([65.0, *(np.float32([11.2, 28.2]) + d * towards_gray)]) for d in (12.0, 21.0))
    torso = gm.torso_region(image.shape, body) & person & ~head
    ys, xs = np.nonzero(torso)
    blocks = ((ys // 16 + xs // 16) % 3).astype(bool)
    image[ys, xs] = np.where(blocks[:, None], color.to_rgb8(far[None, None])[0], color.to_rgb8(near[None, None])[0])
    assert gm.skin_mask(image, skin)[ys, xs].mean() == pytest.approx(1 / 3, abs=0.05)  # across the radius
    g = gm.garment_mask(image, person, scene.people[0])
    assert g.mask[torso].mean() > 0.9  # before: the far blocks alone, 2/3


def _astronaut_on_her_torso(photo_people):
    """The astronaut, her person mask and garment parse, and each pixel's place on her torso: torso
    lengths down from the neck, and torso widths across its middle line (signed)."""
    scene, person = photo_people["astronaut"]
    g = gm.garment_mask(scene.image, person, scene.people[0])
    body = g.body
    ys, xs = np.mgrid[0:person.shape[0], 0:person.shape[1]]
    down = ((xs - body.neck[0]) * body.axis[0] + (ys - body.neck[1]) * body.axis[1]) / body.length
    across = ((xs - body.neck[0]) * body.across[0] + (ys - body.neck[1]) * body.across[1]) / body.scale
    return scene, person, g, down, across


@pytest.mark.parametrize("across", [1.0, 0.3])
def test_a_bare_midriff_ends_the_upper_garment(photo_people, across):
    """A crop top over a skirt of the same navy (a held-out photo, not committed): the skirt below
    her bare midriff was read as her top, and `pullover` painted it below its new hem as dark
    trousers. A band of skin across the torso's middle ends the upper garment, and what lies below
    it hides the garment as a person in front does (`below_bare_midriff`, `in_front`): nothing is
    drawn there. The astronaut with a band of her face's skin painted across her suit, from 0.55 to
    0.68 torso lengths down: her suit below it is no longer her garment. A patch of skin across less
    of the torso's middle (0.3 of it; her cords and name tag read as skin too) ends nothing."""
    scene, person, g, down, side = _astronaut_on_her_torso(photo_people)
    body = g.body
    rng = np.random.default_rng(0)
    off_middle = np.abs(side)
    band = (down > 0.55) & (down < 0.68) & (off_middle < across * 0.5) & g.torso & ~g.arms & person
    image = scene.image.copy()
    lab = np.float32(g.skin.lab) + rng.normal(0, 1.0, (band.sum(), 3)).astype(np.float32)
    image[band] = color.to_rgb8(lab[None])[0]
    below = (down > 0.72) & g.torso & ~g.arms & person
    assert g.mask[below].mean() > 0.9  # her suit below, before the band
    bared = gm.garment_mask(image, person, scene.people[0])
    tiny = body.scaled(0.003)  # a body a pixel long: nothing to tell, and no error
    assert not gm.below_bare_midriff(np.ones((2, 2), bool), np.ones((2, 2), bool), np.zeros((2, 2), bool), tiny).any()
    if across == 1.0:
        assert bared.mask[below].mean() < 0.02
        assert bared.in_front is not None and bared.in_front[below].all()
        assert bared.mask[(down < 0.5) & g.mask].mean() > 0.95  # the top is kept
    else:
        assert bared.mask[below].mean() > 0.9 and bared.in_front is None



@pytest.mark.parametrize("island", [gm.SKIN_ISLAND, 0.0], ids=["as-set", "off"])
def test_a_piece_enclosed_by_skin_in_a_skins_hue_is_skin(photo_people, monkeypatch, island):
    """A woman in a black bra top in a club's pink light (a held-out photo, not committed): a patch
    of her chest between the cups, in another light than her face, read off her face's skin, and
    every target painted that garment island as a pale gray patch. A piece of the garment enclosed by skin,
    of a skin's hue, no larger than SKIN_ISLAND of the torso (`skin_islands`), is skin. Here the
    astronaut's chest is painted in her face's skin, holding a disc of it in a pink light (21 a*b* off
    her face's, past SKIN_MAX_AB): the disc is skin; one of blue, and a strip of the pink skin that
    runs on into the suit, stay garment."""
    monkeypatch.setattr(gm, "SKIN_ISLAND", island)
    scene, person, g, down, across = _astronaut_on_her_torso(photo_people)
    body = g.body
    rng = np.random.default_rng(0)
    chest = (down > 0.1) & (down < 0.38) & (np.abs(across) < 0.35) & g.mask  # above a midriff's band
    image = scene.image.copy()

    def paint(where, lab):
        image[where] = color.to_rgb8((np.float32(lab) + rng.normal(0, 0.7, (where.sum(), 3)).astype(np.float32))[None])[0]

    paint(chest, g.skin.lab)
    r = 0.08 * body.length  # more than 1% of the garment (`_clean` drops less)
    highlight = chest & (np.hypot((down - 0.24) * body.length, (across + 0.15) * body.scale) < r)
    blue = chest & (np.hypot((down - 0.24) * body.length, (across - 0.15) * body.scale) < r)
    light = np.float32(g.skin.lab) + (5.0, 20.0, -8.0)  # in a pink light: past SKIN_MAX_AB, a skin's hue
    paint(highlight, light)
    paint(blue, (40.0, 10.0, -40.0))
    reaching = (down > 0.3) & (down < 0.5) & (np.abs(across) < 0.05) & g.mask  # runs off the skin to the suit
    paint(reaching, light)
    bared = gm.garment_mask(image, person, scene.people[0])
    assert bared.mask[chest & ~highlight & ~blue & ~reaching].mean() < 0.1  # the painted skin, but its edges
    assert bared.mask[blue].mean() > 0.6 and bared.mask[reaching].mean() > 0.9
    assert bared.mask[highlight].mean() < 0.05 if island else bared.mask[highlight].mean() > 0.9


@pytest.mark.parametrize("nearer", [gm.NEARER_CLOTH, 0.0], ids=["as-set", "off"])
def test_a_garment_near_the_skins_colour_is_cloth_where_nearer_the_cloth(photo_people, monkeypatch, nearer):
    """A held-out man's beige sweater lies 12.6 a*b* from his face's skin, at the edge of the skin
    radius: in patches its light brought within it, it read as skin (0.2 of his belly, under
    SKIN_COLOURED_GARMENT), and every target shaded the cloth round those holes in brown blotches.
    On the torso, a pixel read as skin whose a*b* lies nearer the torso cloth's than the face's is
    cloth (`nearer_cloth`). Here the astronaut's torso is painted a camel knit, its cloth 1.3 skin
    radii off her face's a*b* toward yellow, in patches 0.85 radii off (inside the radius, nearer the
    cloth): the patches are garment. A disc in her face's own colour stays skin."""
    monkeypatch.setattr(gm, "NEARER_CLOTH", nearer)
    scene, person, g, down, across = _astronaut_on_her_torso(photo_people)
    body, skin = g.body, g.skin
    rng = np.random.default_rng(0)
    torso = (down > 0.1) & (down < 0.9) & (np.abs(across) < 0.4) & g.mask & g.torso & ~g.arms
    face_ab = np.float32(skin.lab[1:])
    chroma = float(np.hypot(*face_ab))
    radius = min(max(gm.SKIN_AB, gm.SKIN_SPREAD * skin.spread), gm.SKIN_MAX_AB, gm.SKIN_NEUTRAL * chroma)

    camel = np.float32([-0.5, 1.0]) / np.hypot(0.5, 1.0)  # from the face's a*b* toward yellow

    def knit(off: float) -> np.ndarray:  # Lab: the face's lightness, its a*b* `off` radii toward camel
        return np.float32([skin.lab[0], *(face_ab + off * radius * camel)])

    image = scene.image.copy()

    def paint(where, lab):
        image[where] = color.to_rgb8((lab + rng.normal(0, 0.5, (where.sum(), 3)).astype(np.float32))[None])[0]

    paint(torso, knit(1.3))
    field = cv2.GaussianBlur(rng.normal(size=torso.shape).astype(np.float32), (0, 0), 0.03 * body.length)
    patches = torso & (field > np.quantile(field[torso], 0.7))
    paint(patches, knit(0.85))
    disc = torso & (np.hypot((down - 0.5) * body.length, across * body.scale) < 0.06 * body.length)
    paint(disc, np.float32(skin.lab))
    parsed = gm.garment_mask(image, person, scene.people[0])
    assert parsed.mask[disc].mean() < 0.1  # her face's own colour: skin either way
    covered = parsed.mask[patches & ~disc].mean()
    assert covered > 0.9 if nearer else covered < 0.5, covered


def test_the_skin_that_tells_a_midriff_is_the_faces_and_legs_near_its_colour(photo_people):
    """A woman seated with her knees up (a party photo, not committed) has her bare thighs across
    her torso, a band of skin, and a longer hem ran down over her shins as a dark block: legs pose
    sees count for a midriff (`midriff_skin`) where their colour lies near the face's lit side.
    Skin of any skin's hue on a leg (`leg_skin`) does not: where pose put the astronaut's hips at her
    chest, it read her suit's lit folds as skin, and the cut drew black slivers across her suit. The
    astronaut's knee seen across her suit: a patch in her face's lit colour + 15 b* counts, one of
    her suit's orange does not, nor the arm rule's skin off the legs."""
    from closet.body import L_HIP, L_KNEE

    scene, person = photo_people["astronaut"]
    keypoints = scene.people[0].copy()
    keypoints[L_KNEE, :2] = keypoints[L_HIP, :2] - (200.0, 60.0)
    keypoints[L_KNEE, -1] = 1.0
    body = body_from_keypoints(keypoints, scene.image.shape)
    skin = gm.skin_from_face(scene.image, body)
    legs = gm.leg_region(scene.image.shape, body)
    image = scene.image.copy()
    near, orange, arm = (np.zeros(person.shape, bool) for _ in range(3))
    near[470:495, 150:200], orange[445:468, 60:110], arm[300:330, 20:60] = True, True, True
    assert legs[near].all() and legs[orange].all() and not legs[arm].any()
    image[near] = color.to_rgb8(np.float32([[[skin.lit[0], skin.lit[1], skin.lit[2] + 15]]]))[0, 0]
    image[orange] = color.to_rgb8(np.float32([[[65.0, 40.0, 55.0]]]))[0, 0]
    assert not gm.skin_mask(image, skin)[near | orange].any()  # neither is the face's colour
    every_rule = near | orange | arm
    told = gm.midriff_skin(image, skin, np.zeros_like(person), every_rule, body)
    assert told[near].all() and not told[orange].any() and not told[arm].any()

"""The one table of keyboard and mouse bindings: actions are built from it and the help dialog lists it,
so the two cannot drift apart."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Shortcut:
    action: str  # id used by the main window ("" for mouse-only rows)
    keys: tuple[str, ...]  # QKeySequence strings; for mouse rows a description
    text: str
    group: str


SHORTCUTS: tuple[Shortcut, ...] = (
    # clicking
    Shortcut("", ("Left click",), "Positive click (foreground)", "Clicks"),
    Shortcut("", ("Right click", "Shift+Left click"), "Negative click (background)", "Clicks"),
    Shortcut("", ("Left click on the proposal",), "Accept the proposed pseudo click", "Clicks"),
    Shortcut("accept", ("Return", "Enter"), "Accept the proposed pseudo click", "Clicks"),
    Shortcut("withdraw", ("Backspace",), "Withdraw (reject) the proposed pseudo click", "Clicks"),
    Shortcut("toggle_proposals", ("P",), "Suggested clicks on/off (Edit › Preferences chooses the rule)", "Clicks"),
    Shortcut("undo", ("Ctrl+Z",), "Undo (clicks, accepted/withdrawn proposals, finished/deleted objects, brush "
             "strokes)", "Clicks"),
    Shortcut("redo", ("Ctrl+Shift+Z", "Ctrl+Y"), "Redo", "Clicks"),
    # objects
    Shortcut("finish", ("Space", "N"), "Finish the object (becomes an instance of the current category)", "Objects"),
    Shortcut("reset", ("Esc",), "Reset the current object (in brush / eraser mode: leave it)", "Objects"),
    Shortcut("delete_instance", ("Delete",), "Delete the selected instance", "Objects"),
    Shortcut("reopen_instance", ("E",), "Re-open the selected instance to keep refining it", "Objects"),
    Shortcut("next_category", ("C",), "Next category", "Objects"),
    # brush
    Shortcut("brush", ("B",), "Brush mode: left drag paints into the object selected in the Objects panel "
             "(B again or Esc: back to clicks)", "Brush"),
    Shortcut("eraser", ("X",), "Eraser mode: left drag erases from the selected object (X again or Esc: back to "
             "clicks)", "Brush"),
    Shortcut("", ("Shift+left drag", "Right drag"), "In brush mode: erase (Shift in eraser mode: paint)", "Brush"),
    Shortcut("brush_smaller", ("[",), "Smaller brush (radius in image pixels)", "Brush"),
    Shortcut("brush_bigger", ("]",), "Bigger brush", "Brush"),
    # view
    Shortcut("", ("Mouse wheel",), "Zoom at the cursor", "View"),
    Shortcut("", ("Middle drag", "Space+drag"), "Pan", "View"),
    Shortcut("fit", ("F", "Ctrl+0"), "Fit the image to the window", "View"),
    Shortcut("actual_size", ("1", "Ctrl+1"), "Zoom 1:1", "View"),
    Shortcut("toggle_contours", ("O",), "Filled masks / contours only", "View"),
    Shortcut("toggle_errors", ("M",), "Show the error maps: red = probably not the object, blue = probably missed "
             "(a legend shows on the image)", "View"),
    Shortcut("toggle_overlay", ("H",), "Hide/show all masks", "View"),
    # volumes
    Shortcut("next_slice", ("PgDown",), "Next slice of the volume (next image when no volume is open)", "Volumes"),
    Shortcut("prev_slice", ("PgUp",), "Previous slice of the volume (previous image when no volume is open)", "Volumes"),
    Shortcut("", ("Ctrl+wheel",), "Previous / next slice", "Volumes"),
    Shortcut("propagate_next", ("Ctrl+PgDown",),
             "Propagate the current object (or the selected one) to the next slice and segment it there", "Volumes"),
    Shortcut("propagate_prev", ("Ctrl+PgUp",), "Propagate the current (or selected) object to the previous slice",
             "Volumes"),
    Shortcut("next_axis", ("V",), "Next slice plane: axial, coronal, sagittal", "Volumes"),
    Shortcut("next_window", ("W",), "Next window/level preset (display only)", "Volumes"),
    Shortcut("", ("Ctrl+right drag",), "Window/level: drag right/left = wider/narrower, down/up = level up/down "
             "(display only; a Ctrl+right click without dragging is still a negative click)", "Volumes"),
    Shortcut("next_channel", ("T",), "Next channel / modality (e.g. FLAIR, T1c): shown and given to the network",
             "Volumes"),
    # files
    Shortcut("next_image", ("D",), "Next image or volume in the file list", "Files"),
    Shortcut("prev_image", ("A",), "Previous image or volume in the file list", "Files"),
    Shortcut("mark_done", ("Ctrl+D",), "Mark the image done / not done", "Files"),
    Shortcut("open_image", ("Ctrl+O",), "Open image(s)", "Files"),
    Shortcut("open_folder", ("Ctrl+Shift+O",), "Open a folder of images", "Files"),
    Shortcut("open_volume", ("Ctrl+Shift+V",), "Open a volume file (NIfTI, DICOM file, multi-page TIFF)", "Files"),
    Shortcut("open_volume_folder", ("Ctrl+Alt+V",),
             "Open a volume folder (DICOM series, BraTS case, folder of sections)", "Files"),
    Shortcut("open_project", ("Ctrl+P",), "Open a project", "Files"),
    Shortcut("new_project", ("Ctrl+N",), "New project", "Files"),
    Shortcut("export_coco", ("Ctrl+E",), "Export COCO JSON", "Files"),
    Shortcut("preferences", ("Ctrl+,",), "Preferences (suggest next clicks: on, off or the paper's rule)", "Help"),
    Shortcut("help", ("F1",), "This help", "Help"),
    Shortcut("quit", ("Ctrl+Q",), "Quit", "Files"),
)


HELP_INTRO = (
    "<p>Left-click the object you want, right-click (or Shift+click) what is not part of it. After each click the "
    "network proposes the next click, a <i>suggested</i> (pseudo) click: a dashed ring whose solid arc shows how "
    "sure it is. Enter (or a click on the ring) accepts it, Backspace withdraws it, or simply click elsewhere. "
    "Space finishes the object; it becomes an object of the category selected in the Categories panel. "
    "Edit › Preferences turns suggestions on or off, or makes them follow the paper's rule.</p>"
)

HELP_SAVING = (
    "<h3>What is saved</h3><p>Every click, every finished object and the unfinished object of each image are "
    "written to the project file at once, so closing the app (or a crash) loses nothing: on the next start the "
    "project reopens where you were, with the unfinished object's clicks replayed. Undo (Ctrl+Z) reaches back "
    "through the steps made on each image since the app started, also after switching to other images and back; "
    "after a restart the undo history starts empty (finished objects can still be re-opened with E or deleted "
    "with Del). Opening a folder without a project reopens that folder's own project each time.</p>"
)


def keys_for(action: str) -> tuple[str, ...]:
    for s in SHORTCUTS:
        if s.action == action:
            return s.keys
    return ()


def help_html() -> str:
    """An HTML table of every binding, grouped."""
    rows = []
    group = None
    for s in SHORTCUTS:
        if s.group != group:
            group = s.group
            rows.append(f"<tr><td colspan=2><br><b>{group}</b></td></tr>")
        keys = " / ".join(f"<code>{k}</code>" for k in s.keys)
        rows.append(f"<tr><td style='padding-right:16px'>{keys}</td><td>{s.text}</td></tr>")
    return "<table>" + "".join(rows) + "</table>"

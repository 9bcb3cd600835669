"""Words the phone simulator's script shows, translated per request."""

from __future__ import annotations

from flask_babel import gettext


def js_strings() -> dict[str, str]:
    """The words phone.js shows, translated for this request (placeholders left for the script)."""
    return {
        "followed": gettext("You followed %(name)s"),
        "followed_scene": gettext("You followed %(name)s through scene %(scene)s"),
        "scanned": gettext("You scanned the QR code of scene %(scene)s"),
        "unfollowed": gettext("You unfollowed %(name)s"),
        "unavailable": gettext(
            "The official account is temporarily unable to provide service. Please try again later."),
        "transfer": gettext("Your message was passed to customer service."),
        "tapped": gettext("Tapped the menu: %(name)s"),
        "template": gettext("Received template message"),
        "mass": gettext("Received mass message"),
        "details": gettext("View details"),
        "location": gettext("Shared location"),
        "media": gettext("[%(kind)s message]"),
        "following": gettext("Follows the account"),
        "not_following": gettext("Does not follow the account"),
        "no_menu": gettext("This account has not published a menu yet."),
        "no_qr": gettext("No QR codes yet"),
        "permanent": gettext("Permanent QR code"),
        "temporary": gettext("Temporary, %(minutes)s min left"),
        "pick_user": gettext("Create or pick a phone user to start."),
        "follow_to_chat": gettext("Follow the account to chat with it."),
        "webpage": gettext("In-app web page"),
        "err_already_following": gettext("This user already follows the account."),
        "err_follow_first": gettext("Follow the account first."),
        "err_qr_expired": gettext("This QR code has expired or does not exist."),
        "err_not_in_menu": gettext("That item is not in the account's menu."),
        "err_bad_text": gettext("Type a message of at most 2048 characters."),
        "err_bad_location": gettext("Enter a latitude between -90 and 90 and a longitude between -180 and 180."),
        "err_unknown_person": gettext("Unknown phone user."),
        "err_bad_scene": gettext("That scene cannot be turned into a QR code."),
        "err_unknown": gettext("Something went wrong; please try again."),
        "unsupported": gettext("The simulator cannot perform this kind of menu item."),
    }

"""Who may do what: every route of the app, and what anonymous callers and each role get there."""

# tests/test_authorization_matrix.py walks every line with real requests, and fails on a route
# of the app that is missing here (or a line here that the app no longer has). A new route is
# one new line, sorted by path. Columns: anonymous, client, clinician, coordinator, admin, kiosk.
#
# kiosk  a front-desk tablet's own login. Deny by default: a line without a kiosk cell means
#        deny, so only the few routes a kiosk may reach carry one (scheduler/web/kiosk_lock.py
#        is the one place that lets them through).
#
# allow  passes the door. The answer may still be a 4xx about the input (a missing field, a
#        locked session), never 401 or 403.
# deny   API: 401 with WWW-Authenticate: Bearer when anonymous, 403 when signed in.
#        Pages: a redirect to /login?next=… when anonymous, the 403 page when signed in.
# own    only the caller's own record: a client's own client id (or a plan, booking or session
#        of theirs; GET /api/v1/sessions by ?client_id=), a clinician's own staff id. Anyone
#        else's id, or an id that does not exist, answers 403, so ids cannot be probed.

from typing import NamedTuple

ROLES = ("anonymous", "client", "clinician", "coordinator", "admin", "kiosk")
ACCESS = ("allow", "deny", "own")
API = "/api/v1/"

MATRIX = """
method  rule                                                      anon   client clin.  coord. admin  kiosk
GET     /                                                         allow  allow  allow  allow  allow  allow
GET     /account/mfa                                              deny   allow  allow  allow  allow
POST    /account/mfa                                              deny   allow  allow  allow  allow
POST    /account/mfa/off                                          deny   allow  allow  allow  allow
POST    /account/mfa/start                                        deny   allow  allow  allow  allow
GET     /account/password                                         deny   allow  allow  allow  allow  allow
POST    /account/password                                         deny   allow  allow  allow  allow  allow
GET     /alerts                                                   deny   deny   allow  allow  allow
POST    /alerts/<int:alert_id>/acknowledge                        deny   deny   allow  allow  allow
GET     /api/v1/alerts                                            deny   deny   allow  allow  allow
POST    /api/v1/alerts/<int:alert_id>/acknowledge                 deny   deny   allow  allow  allow
GET     /api/v1/assessments/<int:assessment_id>                   deny   deny   allow  allow  allow
GET     /api/v1/audit-events                                      deny   deny   deny   deny   allow
POST    /api/v1/auth/invitations/accept                           allow  allow  allow  allow  allow
GET     /api/v1/auth/me                                           deny   allow  allow  allow  allow
DELETE  /api/v1/auth/mfa                                          deny   allow  allow  allow  allow
POST    /api/v1/auth/mfa                                          deny   allow  allow  allow  allow
POST    /api/v1/auth/mfa/confirm                                  deny   allow  allow  allow  allow
POST    /api/v1/auth/password                                     deny   allow  allow  allow  allow
POST    /api/v1/auth/password-reset                               allow  allow  allow  allow  allow
POST    /api/v1/auth/password-reset/confirm                       allow  allow  allow  allow  allow
GET     /api/v1/auth/sessions                                     deny   allow  allow  allow  allow
DELETE  /api/v1/auth/sessions/<int:login_session_id>              deny   allow  allow  allow  allow
DELETE  /api/v1/auth/token                                        deny   allow  allow  allow  allow  allow
POST    /api/v1/auth/token                                        allow  allow  allow  allow  allow
DELETE  /api/v1/auth/tokens/<int:token_id>                        deny   allow  allow  allow  allow
DELETE  /api/v1/bookings/<int:booking_id>                         deny   deny   deny   allow  allow
GET     /api/v1/bookings/<int:booking_id>                         deny   own    allow  allow  allow
POST    /api/v1/checkin                                           deny   allow  deny   deny   deny
GET     /api/v1/clients                                           deny   deny   allow  allow  allow
POST    /api/v1/clients                                           deny   deny   deny   allow  allow
GET     /api/v1/clients/<int:client_id>                           deny   own    allow  allow  allow
PATCH   /api/v1/clients/<int:client_id>                           deny   deny   deny   allow  allow
GET     /api/v1/clients/<int:client_id>/assessments               deny   deny   allow  allow  allow
POST    /api/v1/clients/<int:client_id>/assessments               deny   deny   allow  allow  allow
GET     /api/v1/clients/<int:client_id>/availability              deny   own    allow  allow  allow
PUT     /api/v1/clients/<int:client_id>/availability              deny   deny   deny   allow  allow
POST    /api/v1/clients/<int:client_id>/break-glass               deny   deny   allow  deny   deny
GET     /api/v1/clients/<int:client_id>/consents                  deny   own    allow  allow  allow
POST    /api/v1/clients/<int:client_id>/consents                  deny   deny   deny   allow  allow
DELETE  /api/v1/clients/<int:client_id>/consents/<int:consent_id> deny   deny   deny   allow  allow
GET     /api/v1/clients/<int:client_id>/consents/<int:consent_id> deny   own    allow  allow  allow
POST    /api/v1/clients/<int:client_id>/discharge                 deny   deny   deny   allow  allow
GET     /api/v1/clients/<int:client_id>/disclosures               deny   own    allow  allow  allow
GET     /api/v1/clients/<int:client_id>/episodes                  deny   own    allow  allow  allow
POST    /api/v1/clients/<int:client_id>/episodes                  deny   deny   deny   allow  allow
DELETE  /api/v1/clients/<int:client_id>/feed                      deny   own    deny   allow  allow
POST    /api/v1/clients/<int:client_id>/feed                      deny   own    deny   allow  allow
GET     /api/v1/clients/<int:client_id>/free-slots                deny   deny   allow  allow  allow
PUT     /api/v1/clients/<int:client_id>/kiosk-pin                 deny   own    allow  allow  allow
POST    /api/v1/clients/<int:client_id>/make-up-proposals         deny   deny   deny   allow  allow
PUT     /api/v1/clients/<int:client_id>/notification-preferences  deny   own    deny   allow  allow
GET     /api/v1/clients/<int:client_id>/plans                     deny   own    allow  allow  allow
POST    /api/v1/clients/<int:client_id>/plans                     deny   deny   allow  allow  allow
POST    /api/v1/clients/<int:client_id>/schedule-proposals        deny   deny   deny   allow  allow
GET     /api/v1/clients/matches                                   deny   deny   deny   allow  allow
GET     /api/v1/docs                                              allow  allow  allow  allow  allow
GET     /api/v1/jobs/runs                                         deny   deny   deny   deny   allow
POST    /api/v1/kiosk/checkin                                     deny   deny   allow  allow  allow  allow
GET     /api/v1/openapi.json                                      allow  allow  allow  allow  allow
GET     /api/v1/plans/<int:plan_id>                               deny   own    allow  allow  allow
POST    /api/v1/plans/<int:plan_id>/certification                 deny   deny   allow  allow  allow
POST    /api/v1/plans/<int:plan_id>/review                        deny   deny   allow  allow  allow
POST    /api/v1/plans/<int:plan_id>/revisions                     deny   deny   allow  allow  allow
GET     /api/v1/plans/due                                         deny   deny   allow  allow  allow
GET     /api/v1/programs                                          deny   deny   allow  allow  allow
POST    /api/v1/programs                                          deny   deny   deny   allow  allow
GET     /api/v1/programs/<int:program_id>                         deny   deny   allow  allow  allow
PATCH   /api/v1/programs/<int:program_id>                         deny   deny   deny   allow  allow
GET     /api/v1/programs/<int:program_id>/closures                deny   deny   allow  allow  allow
POST    /api/v1/programs/<int:program_id>/closures                deny   deny   deny   allow  allow
DELETE  /api/v1/programs/<int:program_id>/closures/<int:closure_id> deny deny deny allow allow
DELETE  /api/v1/programs/<int:program_id>/feed                    deny   deny   deny   allow  allow
POST    /api/v1/programs/<int:program_id>/feed                    deny   deny   deny   allow  allow
POST    /api/v1/programs/<int:program_id>/schedule-proposals      deny   deny   deny   allow  allow
GET     /api/v1/recipients                                        deny   deny   deny   deny   allow
POST    /api/v1/recipients                                        deny   deny   deny   deny   allow
GET     /api/v1/recipients/<int:recipient_id>                     deny   deny   deny   deny   allow
PATCH   /api/v1/recipients/<int:recipient_id>                     deny   deny   deny   deny   allow
GET     /api/v1/recipients/<int:recipient_id>/api-clients         deny   deny   deny   deny   allow
POST    /api/v1/recipients/<int:recipient_id>/api-clients         deny   deny   deny   deny   allow
DELETE  /api/v1/recipients/<int:recipient_id>/api-clients/<int:api_client_id> deny deny deny deny allow
GET     /api/v1/reports/attendance-rates                          deny   deny   allow  allow  allow
GET     /api/v1/reports/below-target                              deny   deny   allow  allow  allow
GET     /api/v1/reports/billing-days                              deny   deny   allow  allow  allow
GET     /api/v1/reports/census                                    deny   deny   allow  allow  allow
GET     /api/v1/reports/follow-up                                 deny   deny   allow  allow  allow
GET     /api/v1/reports/weekly-hours                              deny   deny   allow  allow  allow
GET     /api/v1/rooms                                             deny   deny   allow  allow  allow
POST    /api/v1/rooms                                             deny   deny   deny   allow  allow
GET     /api/v1/rooms/<int:room_id>                               deny   deny   allow  allow  allow
PATCH   /api/v1/rooms/<int:room_id>                               deny   deny   deny   allow  allow
DELETE  /api/v1/rooms/<int:room_id>/feed                          deny   deny   deny   allow  allow
POST    /api/v1/rooms/<int:room_id>/feed                          deny   deny   deny   allow  allow
GET     /api/v1/schedule-proposals/<int:proposal_id>              deny   deny   deny   allow  allow
POST    /api/v1/schedule-proposals/<int:proposal_id>/accept       deny   deny   deny   allow  allow
GET     /api/v1/series                                            deny   deny   allow  allow  allow
POST    /api/v1/series                                            deny   deny   deny   allow  allow
GET     /api/v1/series/<int:series_id>                            deny   deny   allow  allow  allow
PATCH   /api/v1/series/<int:series_id>                            deny   deny   deny   allow  allow
POST    /api/v1/series/<int:series_id>/end                        deny   deny   deny   allow  allow
GET     /api/v1/series/<int:series_id>/enrollments                deny   deny   allow  allow  allow
POST    /api/v1/series/<int:series_id>/enrollments                deny   deny   deny   allow  allow
GET     /api/v1/sessions                                          deny   own    allow  allow  allow
POST    /api/v1/sessions                                          deny   deny   deny   allow  allow
GET     /api/v1/sessions/<int:session_id>                         deny   own    allow  allow  allow
PATCH   /api/v1/sessions/<int:session_id>                         deny   deny   deny   allow  allow
GET     /api/v1/sessions/<int:session_id>/attendance              deny   deny   allow  allow  allow
PUT     /api/v1/sessions/<int:session_id>/attendance              deny   deny   allow  allow  allow
GET     /api/v1/sessions/<int:session_id>/bookings                deny   deny   allow  allow  allow
POST    /api/v1/sessions/<int:session_id>/bookings                deny   deny   deny   allow  allow
GET     /api/v1/sessions/<int:session_id>/checkin-code            deny   deny   allow  allow  allow
GET     /api/v1/sites                                             deny   deny   allow  allow  allow
POST    /api/v1/sites                                             deny   deny   deny   deny   allow
GET     /api/v1/sites/<int:site_id>                               deny   deny   allow  allow  allow
PATCH   /api/v1/sites/<int:site_id>                               deny   deny   deny   deny   allow
GET     /api/v1/staff                                             deny   deny   allow  allow  allow
POST    /api/v1/staff                                             deny   deny   deny   allow  allow
GET     /api/v1/staff/<int:staff_id>                              deny   deny   allow  allow  allow
PATCH   /api/v1/staff/<int:staff_id>                              deny   deny   deny   allow  allow
DELETE  /api/v1/staff/<int:staff_id>/feed                         deny   deny   own    allow  allow
POST    /api/v1/staff/<int:staff_id>/feed                         deny   deny   own    allow  allow
GET     /api/v1/staff/<int:staff_id>/time-off                     deny   deny   allow  allow  allow
POST    /api/v1/staff/<int:staff_id>/time-off                     deny   deny   deny   allow  allow
DELETE  /api/v1/staff/<int:staff_id>/time-off/<int:time_off_id>   deny   deny   deny   allow  allow
GET     /api/v1/staff/<int:staff_id>/working-hours                deny   deny   allow  allow  allow
PUT     /api/v1/staff/<int:staff_id>/working-hours                deny   deny   deny   allow  allow
GET     /api/v1/users                                             deny   deny   deny   allow  allow
PATCH   /api/v1/users/<int:user_id>                               deny   deny   deny   allow  allow
DELETE  /api/v1/users/<int:user_id>/mfa                           deny   deny   deny   deny   allow
PUT     /api/v1/users/<int:user_id>/sites                         deny   deny   deny   deny   allow
POST    /api/v1/users/<int:user_id>/unlock                        deny   deny   deny   deny   allow
POST    /api/v1/users/invitations                                 deny   deny   deny   allow  allow
GET     /api/v1/webhooks                                          deny   deny   deny   deny   allow
POST    /api/v1/webhooks                                          deny   deny   deny   deny   allow
DELETE  /api/v1/webhooks/<int:webhook_id>                         deny   deny   deny   deny   allow
GET     /api/v1/webhooks/<int:webhook_id>                         deny   deny   deny   deny   allow
PATCH   /api/v1/webhooks/<int:webhook_id>                         deny   deny   deny   deny   allow
GET     /api/v1/webhooks/<int:webhook_id>/deliveries              deny   deny   deny   deny   allow
POST    /api/v1/webhooks/<int:webhook_id>/deliveries/<int:delivery_id>/retry deny   deny   deny   deny   allow
POST    /api/v1/webhooks/<int:webhook_id>/rotate-secret           deny   deny   deny   deny   allow
GET     /audit                                                    deny   deny   deny   deny   allow
GET     /clients                                                  deny   deny   deny   allow  allow
GET     /clients/<int:client_id>                                  deny   deny   allow  allow  allow
POST    /clients/<int:client_id>/break-glass                      deny   deny   allow  deny   deny
POST    /clients/<int:client_id>/consents                         deny   deny   deny   allow  allow
POST    /clients/<int:client_id>/consents/<int:consent_id>/revoke deny   deny   deny   allow  allow
POST    /clients/<int:client_id>/feed                             deny   deny   deny   allow  allow
POST    /clients/<int:client_id>/feed/revoke                      deny   deny   deny   allow  allow
GET     /clients/<int:client_id>/find-a-time                      deny   deny   deny   allow  allow
POST    /clients/<int:client_id>/find-a-time                      deny   deny   deny   allow  allow
POST    /clients/<int:client_id>/kiosk-pin                        deny   deny   allow  allow  allow
POST    /clients/<int:client_id>/login/reactivate                 deny   deny   deny   allow  allow
POST    /clients/<int:client_id>/plan/certification               deny   deny   allow  allow  allow
POST    /clients/<int:client_id>/plan/review                      deny   deny   allow  allow  allow
GET     /clients/<int:client_id>/plan/revise                      deny   deny   allow  allow  allow
POST    /clients/<int:client_id>/plan/revise                      deny   deny   allow  allow  allow
POST    /clients/<int:client_id>/readmit                          deny   deny   deny   allow  allow
POST    /clients/<int:client_id>/suggest-make-up                  deny   deny   deny   allow  allow
GET     /clients/<int:client_id>/suggest-schedule                 deny   deny   deny   allow  allow
POST    /clients/<int:client_id>/suggest-schedule                 deny   deny   deny   allow  allow
GET     /closures                                                 deny   deny   deny   allow  allow
POST    /closures                                                 deny   deny   deny   allow  allow
POST    /closures/<int:closure_id>/lift                           deny   deny   deny   allow  allow
GET     /favicon.ico                                              allow  allow  allow  allow  allow  allow
GET     /feeds/<token>.ics                                        allow  allow  allow  allow  allow
GET     /fhir/R4/$bulk-publish                                    allow  allow  allow  allow  allow  allow
GET     /fhir/R4/$bulk-publish/Location.ndjson                    allow  allow  allow  allow  allow  allow
GET     /fhir/R4/$bulk-publish/Schedule.ndjson                    allow  allow  allow  allow  allow  allow
GET     /fhir/R4/$bulk-publish/Slot.ndjson                        allow  allow  allow  allow  allow  allow
GET     /fhir/R4/.well-known/smart-configuration                  allow  allow  allow  allow  allow  allow
GET     /fhir/R4/Appointment                                      deny   deny   deny   deny   deny   deny
GET     /fhir/R4/Appointment/<booking_id>                         deny   deny   deny   deny   deny   deny
GET     /fhir/R4/HealthcareService                                deny   deny   deny   deny   deny  deny
GET     /fhir/R4/HealthcareService/<resource_id>                  deny   deny   deny   deny   deny  deny
GET     /fhir/R4/Location                                         deny   deny   deny   deny   deny  deny
GET     /fhir/R4/Location/<resource_id>                           deny   deny   deny   deny   deny  deny
GET     /fhir/R4/Patient                                          deny   deny   deny   deny   deny  deny
POST    /fhir/R4/Patient                                          deny   deny   deny   deny   deny  deny
GET     /fhir/R4/Patient/<resource_id>                            deny   deny   deny   deny   deny  deny
GET     /fhir/R4/Practitioner                                     deny   deny   deny   deny   deny  deny
GET     /fhir/R4/Practitioner/<resource_id>                       deny   deny   deny   deny   deny  deny
GET     /fhir/R4/Schedule                                         deny   deny   deny   deny   deny   deny
GET     /fhir/R4/Schedule/practitioner-<staff_id>                 deny   deny   deny   deny   deny   deny
GET     /fhir/R4/Schedule/series-<series_id>                      deny   deny   deny   deny   deny   deny
GET     /fhir/R4/Slot                                             deny   deny   deny   deny   deny   deny
GET     /fhir/R4/Slot/<session_id>                                deny   deny   deny   deny   deny   deny
POST    /fhir/R4/auth/token                                       allow  allow  allow  allow  allow  allow
GET     /fhir/R4/metadata                                         allow  allow  allow  allow  allow  allow
GET     /follow-up                                                deny   deny   allow  allow  allow
GET     /forgot-password                                          allow  allow  allow  allow  allow
POST    /forgot-password                                          allow  allow  allow  allow  allow
GET     /healthz                                                  allow  allow  allow  allow  allow  allow
GET     /intake                                                   deny   deny   deny   allow  allow
POST    /intake                                                   deny   deny   deny   allow  allow
GET     /intake/<int:client_id>/enrol                             deny   deny   deny   allow  allow
POST    /intake/<int:client_id>/enrol                             deny   deny   deny   allow  allow
GET     /intake/<int:client_id>/plan                              deny   deny   deny   allow  allow
POST    /intake/<int:client_id>/plan                              deny   deny   deny   allow  allow
GET     /invite/<token>                                           allow  allow  allow  allow  allow
POST    /invite/<token>                                           allow  allow  allow  allow  allow
GET     /kiosk                                                    deny   deny   allow  allow  allow  allow
POST    /kiosk                                                    deny   deny   allow  allow  allow  allow
POST    /language                                                 allow  allow  allow  allow  allow  allow
GET     /login                                                    allow  allow  allow  allow  allow
POST    /login                                                    allow  allow  allow  allow  allow
GET     /login/code                                               allow  allow  allow  allow  allow
POST    /login/code                                               allow  allow  allow  allow  allow
POST    /logout                                                   allow  allow  allow  allow  allow  allow
GET     /manifest.webmanifest                                     allow  allow  allow  allow  allow  allow
GET     /me                                                       deny   allow  deny   deny   deny
POST    /me/checkin                                               deny   allow  deny   deny   deny
POST    /me/feed                                                  deny   allow  deny   deny   deny
POST    /me/kiosk-pin                                             deny   allow  deny   deny   deny
GET     /me/offline                                               deny   allow  deny   deny   deny
GET     /programs                                                 deny   deny   deny   allow  allow
POST    /programs                                                 deny   deny   deny   allow  allow
GET     /programs/<int:program_id>/edit                           deny   deny   deny   allow  allow
POST    /programs/<int:program_id>/edit                           deny   deny   deny   allow  allow
GET     /programs/<int:program_id>/suggest-schedules              deny   deny   deny   allow  allow
POST    /programs/<int:program_id>/suggest-schedules              deny   deny   deny   allow  allow
GET     /recipients                                               deny   deny   deny   deny   allow
POST    /recipients                                               deny   deny   deny   deny   allow
GET     /recipients/<int:recipient_id>                            deny   deny   deny   deny   allow
POST    /recipients/<int:recipient_id>/api-clients                deny   deny   deny   deny   allow
POST    /recipients/<int:recipient_id>/api-clients/<int:api_client_id>/revoke deny deny deny deny allow
POST    /recipients/<int:recipient_id>/deactivate                 deny   deny   deny   deny   allow
POST    /recipients/<int:recipient_id>/reactivate                 deny   deny   deny   deny   allow
GET     /reports                                                  deny   deny   deny   allow  allow
GET     /reset/<token>                                            allow  allow  allow  allow  allow
POST    /reset/<token>                                            allow  allow  allow  allow  allow
GET     /rooms                                                    deny   deny   deny   allow  allow
POST    /rooms                                                    deny   deny   deny   allow  allow
GET     /rooms/<int:room_id>/edit                                 deny   deny   deny   allow  allow
POST    /rooms/<int:room_id>/edit                                 deny   deny   deny   allow  allow
GET     /schedule-proposals/<int:proposal_id>                     deny   deny   deny   allow  allow
POST    /schedule-proposals/<int:proposal_id>/accept              deny   deny   deny   allow  allow
GET     /series/<int:series_id>                                   deny   deny   deny   allow  allow
GET     /series/<int:series_id>/edit                              deny   deny   deny   allow  allow
POST    /series/<int:series_id>/edit                              deny   deny   deny   allow  allow
POST    /series/<int:series_id>/end                               deny   deny   deny   allow  allow
POST    /series/<int:series_id>/enroll                            deny   deny   deny   allow  allow
GET     /series/new                                               deny   deny   deny   allow  allow
POST    /series/new                                               deny   deny   deny   allow  allow
POST    /series/preview                                           deny   deny   deny   allow  allow
GET     /sessions/<int:session_id>                                deny   deny   deny   allow  allow
POST    /sessions/<int:session_id>/cancel                         deny   deny   deny   allow  allow
POST    /sessions/<int:session_id>/enroll                         deny   deny   deny   allow  allow
POST    /sessions/<int:session_id>/facilitator                    deny   deny   deny   allow  allow
POST    /sessions/<int:session_id>/move                           deny   deny   deny   allow  allow
POST    /sessions/<int:session_id>/restore                        deny   deny   deny   allow  allow
POST    /sessions/<int:session_id>/room                           deny   deny   deny   allow  allow
GET     /sessions/<int:session_id>/roster                         deny   deny   allow  allow  allow
POST    /sessions/<int:session_id>/roster                         deny   deny   allow  allow  allow
POST    /sessions/<int:session_id>/roster/all-present             deny   deny   allow  allow  allow
GET     /sites                                                    deny   deny   deny   deny   allow
POST    /sites                                                    deny   deny   deny   deny   allow
GET     /sites/<int:site_id>/edit                                 deny   deny   deny   deny   allow
POST    /sites/<int:site_id>/edit                                 deny   deny   deny   deny   allow
GET     /staff                                                    deny   deny   deny   allow  allow
GET     /staff/<int:staff_id>/hours                               deny   deny   deny   allow  allow
POST    /staff/<int:staff_id>/hours                               deny   deny   deny   allow  allow
GET     /staff/<int:staff_id>/sites                               deny   deny   deny   allow  allow
POST    /staff/<int:staff_id>/sites                               deny   deny   deny   allow  allow
GET     /suggest-schedules                                        deny   deny   deny   allow  allow
GET     /sw.js                                                    allow  allow  allow  allow  allow
GET     /today                                                    deny   deny   allow  allow  allow
GET     /users                                                    deny   deny   deny   allow  allow
POST    /users/<int:user_id>/deactivate                           deny   deny   deny   allow  allow
POST    /users/<int:user_id>/mfa-reset                            deny   deny   deny   deny   allow
POST    /users/<int:user_id>/reactivate                           deny   deny   deny   allow  allow
POST    /users/<int:user_id>/role                                 deny   deny   deny   deny   allow
POST    /users/<int:user_id>/sign-out                             deny   deny   deny   allow  allow
GET     /users/<int:user_id>/sites                                deny   deny   deny   deny   allow
POST    /users/<int:user_id>/sites                                deny   deny   deny   deny   allow
POST    /users/<int:user_id>/unlock                               deny   deny   deny   deny   allow
POST    /users/invite                                             deny   deny   deny   allow  allow
GET     /week                                                     deny   deny   deny   allow  allow
"""

# A clinician outside the caseload (issue 19): what they get at each route above that names a
# client, plan or assessment in its path, for a client they are not primary therapist for and
# facilitate no session of within CASELOAD_WINDOW_DAYS, before breaking the glass. The clinician
# column above is a clinician inside the caseload; admins and coordinators are not held to one.
# Clinical records (assessments, plans, episodes, a plan's paperwork) are refused; the client's
# details, scheduling and the break-the-glass itself are not. GET /clients/<id> shows the record
# without its clinical sections. tests/test_authorization_matrix.py walks this table too, and
# fails on such a route left out of it.
OUTSIDE_CASELOAD = """
method  rule                                                      outside
GET     /alerts                                                   caseload
POST    /alerts/<int:alert_id>/acknowledge                        hidden
GET     /api/v1/alerts                                            caseload
POST    /api/v1/alerts/<int:alert_id>/acknowledge                 hidden
GET     /api/v1/assessments/<int:assessment_id>                   deny
GET     /api/v1/clients/<int:client_id>                           allow
GET     /api/v1/clients/<int:client_id>/assessments               deny
POST    /api/v1/clients/<int:client_id>/assessments               allow
GET     /api/v1/clients/<int:client_id>/availability              allow
POST    /api/v1/clients/<int:client_id>/break-glass               allow
GET     /api/v1/clients/<int:client_id>/consents                  deny
GET     /api/v1/clients/<int:client_id>/consents/<int:consent_id> deny
GET     /api/v1/clients/<int:client_id>/disclosures               deny
GET     /api/v1/clients/<int:client_id>/episodes                  deny
GET     /api/v1/clients/<int:client_id>/free-slots                allow
PUT     /api/v1/clients/<int:client_id>/kiosk-pin                 allow
GET     /api/v1/clients/<int:client_id>/plans                     deny
POST    /api/v1/clients/<int:client_id>/plans                     allow
GET     /api/v1/plans/<int:plan_id>                               deny
POST    /api/v1/plans/<int:plan_id>/certification                 deny
POST    /api/v1/plans/<int:plan_id>/review                        deny
POST    /api/v1/plans/<int:plan_id>/revisions                     deny
GET     /api/v1/reports/attendance-rates                          caseload
GET     /api/v1/reports/below-target                              caseload
GET     /api/v1/reports/billing-days                              caseload
GET     /api/v1/reports/census                                    caseload
GET     /api/v1/reports/follow-up                                 caseload
GET     /api/v1/reports/weekly-hours                              caseload
GET     /api/v1/sessions/<int:session_id>                         allow
GET     /api/v1/sessions/<int:session_id>/attendance              caseload
PUT     /api/v1/sessions/<int:session_id>/attendance              allow
GET     /api/v1/sessions/<int:session_id>/bookings                allow
GET     /api/v1/sessions/<int:session_id>/checkin-code            allow
GET     /clients/<int:client_id>                                  allow
POST    /clients/<int:client_id>/break-glass                      allow
POST    /clients/<int:client_id>/kiosk-pin                        allow
POST    /clients/<int:client_id>/plan/certification               deny
POST    /clients/<int:client_id>/plan/review                      deny
GET     /clients/<int:client_id>/plan/revise                      deny
POST    /clients/<int:client_id>/plan/revise                      deny
GET     /follow-up                                                caseload
GET     /sessions/<int:session_id>/roster                         caseload
POST    /sessions/<int:session_id>/roster                         allow
POST    /sessions/<int:session_id>/roster/all-present             allow
"""
# A coordinator of another site (issue 19): what a coordinator whose login is scoped to other
# sites (PUT /api/v1/users/<id>/sites) gets at each API route the coordinator column allows,
# for the records of a site not theirs. The coordinator column above is a coordinator of that
# site, or one with no site list; admins are not scoped.
#
# 404   the path names a record of that site: answered exactly as for an id that does not
#       exist (same status, same body shape), so ids cannot be probed.
# 422   a query or body field names a record of that site (a report's program_id, a new
#       client's program_id, a new series' room_id): refused as a missing reference, naming
#       the field.
# list  a list: it answers 200 without that site's rows (staff: those who work at none of the
#       caller's sites are left out).
# open  nothing of a site: staff records, staff logins and the caller's own account answer as
#       the coordinator column says (a staff member may work at several sites).
#
# tests/test_authorization_matrix.py walks this table with a coordinator scoped to a second
# site, and fails on a coordinator API route left out of it.
OTHER_SITE = """
method  rule                                                              other
GET     /api/v1/alerts                                                    list
POST    /api/v1/alerts/<int:alert_id>/acknowledge                         404
GET     /api/v1/assessments/<int:assessment_id>                           404
POST    /api/v1/auth/invitations/accept                                   open
GET     /api/v1/auth/me                                                   open
DELETE  /api/v1/auth/mfa                                                  open
POST    /api/v1/auth/mfa                                                  open
POST    /api/v1/auth/mfa/confirm                                          open
POST    /api/v1/auth/password                                             open
POST    /api/v1/auth/password-reset                                       open
POST    /api/v1/auth/password-reset/confirm                               open
GET     /api/v1/auth/sessions                                             open
DELETE  /api/v1/auth/sessions/<int:login_session_id>                      open
DELETE  /api/v1/auth/token                                                open
POST    /api/v1/auth/token                                                open
DELETE  /api/v1/auth/tokens/<int:token_id>                                open
DELETE  /api/v1/bookings/<int:booking_id>                                 404
GET     /api/v1/bookings/<int:booking_id>                                 404
GET     /api/v1/clients                                                   list
POST    /api/v1/clients                                                   422
GET     /api/v1/clients/<int:client_id>                                   404
PATCH   /api/v1/clients/<int:client_id>                                   404
GET     /api/v1/clients/<int:client_id>/assessments                       404
POST    /api/v1/clients/<int:client_id>/assessments                       404
GET     /api/v1/clients/<int:client_id>/availability                      404
PUT     /api/v1/clients/<int:client_id>/availability                      404
GET     /api/v1/clients/<int:client_id>/consents                          404
POST    /api/v1/clients/<int:client_id>/consents                          404
DELETE  /api/v1/clients/<int:client_id>/consents/<int:consent_id>         404
GET     /api/v1/clients/<int:client_id>/consents/<int:consent_id>         404
POST    /api/v1/clients/<int:client_id>/discharge                         404
GET     /api/v1/clients/<int:client_id>/disclosures                       404
GET     /api/v1/clients/<int:client_id>/episodes                          404
POST    /api/v1/clients/<int:client_id>/episodes                          404
DELETE  /api/v1/clients/<int:client_id>/feed                              404
POST    /api/v1/clients/<int:client_id>/feed                              404
GET     /api/v1/clients/<int:client_id>/free-slots                        404
PUT     /api/v1/clients/<int:client_id>/kiosk-pin                         404
POST    /api/v1/clients/<int:client_id>/make-up-proposals                 404
PUT     /api/v1/clients/<int:client_id>/notification-preferences          404
GET     /api/v1/clients/<int:client_id>/plans                             404
POST    /api/v1/clients/<int:client_id>/plans                             404
POST    /api/v1/clients/<int:client_id>/schedule-proposals                404
GET     /api/v1/clients/matches                                           list
GET     /api/v1/docs                                                      open
POST    /api/v1/kiosk/checkin                                             422
GET     /api/v1/openapi.json                                              open
GET     /api/v1/plans/<int:plan_id>                                       404
POST    /api/v1/plans/<int:plan_id>/certification                         404
POST    /api/v1/plans/<int:plan_id>/review                                404
POST    /api/v1/plans/<int:plan_id>/revisions                             404
GET     /api/v1/plans/due                                                 list
GET     /api/v1/programs                                                  list
POST    /api/v1/programs                                                  422
GET     /api/v1/programs/<int:program_id>                                 404
PATCH   /api/v1/programs/<int:program_id>                                 404
GET     /api/v1/programs/<int:program_id>/closures                        404
POST    /api/v1/programs/<int:program_id>/closures                        404
DELETE  /api/v1/programs/<int:program_id>/closures/<int:closure_id>       404
DELETE  /api/v1/programs/<int:program_id>/feed                            404
POST    /api/v1/programs/<int:program_id>/feed                            404
POST    /api/v1/programs/<int:program_id>/schedule-proposals              404
GET     /api/v1/reports/attendance-rates                                  422
GET     /api/v1/reports/below-target                                      422
GET     /api/v1/reports/billing-days                                      422
GET     /api/v1/reports/census                                            422
GET     /api/v1/reports/follow-up                                         422
GET     /api/v1/reports/weekly-hours                                      422
GET     /api/v1/rooms                                                     list
POST    /api/v1/rooms                                                     422
GET     /api/v1/rooms/<int:room_id>                                       404
PATCH   /api/v1/rooms/<int:room_id>                                       404
DELETE  /api/v1/rooms/<int:room_id>/feed                                  404
POST    /api/v1/rooms/<int:room_id>/feed                                  404
GET     /api/v1/schedule-proposals/<int:proposal_id>                      404
POST    /api/v1/schedule-proposals/<int:proposal_id>/accept               404
GET     /api/v1/series                                                    list
POST    /api/v1/series                                                    422
GET     /api/v1/series/<int:series_id>                                    404
PATCH   /api/v1/series/<int:series_id>                                    404
POST    /api/v1/series/<int:series_id>/end                                404
GET     /api/v1/series/<int:series_id>/enrollments                        404
POST    /api/v1/series/<int:series_id>/enrollments                        404
GET     /api/v1/sessions                                                  list
POST    /api/v1/sessions                                                  422
GET     /api/v1/sessions/<int:session_id>                                 404
PATCH   /api/v1/sessions/<int:session_id>                                 404
GET     /api/v1/sessions/<int:session_id>/attendance                      404
PUT     /api/v1/sessions/<int:session_id>/attendance                      404
GET     /api/v1/sessions/<int:session_id>/bookings                        404
POST    /api/v1/sessions/<int:session_id>/bookings                        404
GET     /api/v1/sessions/<int:session_id>/checkin-code                    404
GET     /api/v1/sites                                                     list
GET     /api/v1/sites/<int:site_id>                                       404
GET     /api/v1/staff                                                     list
POST    /api/v1/staff                                                     422
GET     /api/v1/staff/<int:staff_id>                                      open
PATCH   /api/v1/staff/<int:staff_id>                                      open
DELETE  /api/v1/staff/<int:staff_id>/feed                                 open
POST    /api/v1/staff/<int:staff_id>/feed                                 open
GET     /api/v1/staff/<int:staff_id>/time-off                             open
POST    /api/v1/staff/<int:staff_id>/time-off                             open
DELETE  /api/v1/staff/<int:staff_id>/time-off/<int:time_off_id>           open
GET     /api/v1/staff/<int:staff_id>/working-hours                        open
PUT     /api/v1/staff/<int:staff_id>/working-hours                        open
GET     /api/v1/users                                                     list
PATCH   /api/v1/users/<int:user_id>                                       404
POST    /api/v1/users/invitations                                         422
"""

# The path arguments that name one client's record.
RECORD_ARGS = ("<int:client_id>", "<int:plan_id>", "<int:assessment_id>")
# Routes whose answers list clients' attendance, marks, notes or alerts (a session's roster,
# the reports, follow-up and alerts): each states what a clinician outside the caseload gets.
ATTENDANCE_ARGS = ("<int:session_id>", "<int:alert_id>")
ATTENDANCE_LISTS = ("/api/v1/reports/", "/api/v1/alerts", "/alerts", "/follow-up")

# The query string a GET needs before it means anything; {program_id} is filled by the walker.
PERIOD = "?program_id={program_id}&from=2027-03-01&to=2027-03-07"
READ_QUERIES = {
    "/api/v1/clients/<int:client_id>/free-slots": "?staff_id={staff_id}&duration_minutes=60"
    "&from=2027-03-01T00:00:00-05:00&to=2027-03-08T00:00:00-05:00",
    "/api/v1/reports/weekly-hours": PERIOD,
    "/api/v1/reports/attendance-rates": PERIOD,
    "/api/v1/reports/census": PERIOD,
    "/api/v1/reports/billing-days": PERIOD,
    "/api/v1/reports/below-target": "?program_id={program_id}",
    "/api/v1/reports/follow-up": "?program_id={program_id}",
}


class Route(NamedTuple):
    method: str
    rule: str
    access: dict  # role -> "allow" | "deny" | "own"

    @property
    def is_api(self) -> bool:
        return self.rule.startswith(API)

    def __str__(self) -> str:
        return f"{self.method} {self.rule}"


def _parse(text: str) -> tuple[Route, ...]:
    """The rows of MATRIX, refusing a malformed line, an unknown cell or a repeated route."""
    lines = [line for line in text.strip().splitlines()[1:] if line.strip()]
    routes, seen = [], set()
    for line in lines:
        method, rule, *cells = line.split()
        if len(cells) == len(ROLES) - 1:
            cells.append("deny")  # no kiosk cell: deny (see the header)
        if len(cells) != len(ROLES) or not set(cells) <= set(ACCESS):
            raise ValueError(f"authorization matrix: bad line {line!r}")
        if (method, rule) in seen:
            raise ValueError(f"authorization matrix: {method} {rule} is listed twice")
        seen.add((method, rule))
        routes.append(Route(method, rule, dict(zip(ROLES, cells, strict=True))))
    return tuple(routes)


ROUTES = _parse(MATRIX)


def routes_where(role: str, *access: str, api_only: bool = False) -> set[tuple[str, str]]:
    """(method, rule) of the rows where the role gets one of these answers."""
    return {(r.method, r.rule) for r in ROUTES
            if r.access[role] in access and (r.is_api or not api_only)}


# allow     as for the caseload.
# deny      403, saying how to break the glass (a client's clinical record).
# caseload  200, holding only the clients of the clinician's own caseload: a report, the
#           follow-up list or the alerts; a session they do not facilitate gives the marks and
#           notes of their caseload's clients only (the API says how many it held back, the
#           roster page says "Mark not shown"). Facilitating a session (a substitute too) puts
#           its clients on the caseload, so its facilitator reads the whole roster.
# hidden    404, as if the row did not exist (another caseload's alert, a break-the-glass one).
OUTSIDE_CELLS = ("allow", "deny", "caseload", "hidden")


def _parse_outside(text: str) -> dict[tuple[str, str], str]:
    """(method, rule) -> what a clinician outside the caseload gets, refusing bad lines."""
    out: dict[tuple[str, str], str] = {}
    for line in [line for line in text.strip().splitlines()[1:] if line.strip()]:
        method, rule, cell = line.split()
        if cell not in OUTSIDE_CELLS or (method, rule) in out:
            raise ValueError(f"outside-caseload table: bad or repeated line {line!r}")
        out[(method, rule)] = cell
    return out


OUTSIDE = _parse_outside(OUTSIDE_CASELOAD)


OTHER_SITE_ANSWERS = ("404", "422", "list", "open")
# The path arguments that name a record of one site.
SITE_ARGS = ("<int:client_id>", "<int:session_id>", "<int:series_id>", "<int:room_id>",
             "<int:program_id>", "<int:booking_id>", "<int:plan_id>", "<int:assessment_id>",
             "<int:alert_id>", "<int:proposal_id>", "<int:site_id>",
             # A client's login is of the client's site (the walk uses Avery's).
             "<int:user_id>")


def _parse_other_site(text: str) -> dict[tuple[str, str], str]:
    """(method, rule) -> what a coordinator of another site gets, refusing bad lines."""
    out: dict[tuple[str, str], str] = {}
    for line in [line for line in text.strip().splitlines()[1:] if line.strip()]:
        method, rule, cell = line.split()
        if cell not in OTHER_SITE_ANSWERS or (method, rule) in out:
            raise ValueError(f"other-site table: bad or repeated line {line!r}")
        out[(method, rule)] = cell
    return out


OTHER = _parse_other_site(OTHER_SITE)


def coordinator_api_routes() -> set[tuple[str, str]]:
    """The API routes a coordinator passes the door of: each says what another site's gets."""
    return {(r.method, r.rule) for r in ROUTES if r.is_api and r.access["coordinator"] == "allow"}


def record_routes_clinicians_reach() -> set[tuple[str, str]]:
    """The routes the clinician column allows whose path names one client's record: each
    must say what a clinician outside the caseload gets."""
    return {(r.method, r.rule) for r in ROUTES
            if r.access["clinician"] == "allow"
            and (any(a in r.rule for a in RECORD_ARGS + ATTENDANCE_ARGS)
                 or r.rule.startswith(ATTENDANCE_LISTS))}
